"""UCF101 and HMDB51 as their authors distribute them (after extraction), written by the tests.

UCF101: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` with ``classInd.txt``
(``N Class``, N from 1), ``trainlistNN.txt`` (``Class/video N``) and ``testlistNN.txt`` (``Class/video``);
CRLF line ends as in the official files. The test set of fold k holds the groups g with ``g % 3 == k - 1``
(the official files use seven groups per fold; only the shape matters here).

HMDB51: ``hmdb51_org/<class>/<video>.avi`` and ``splits/<class>_test_splitN.txt`` with rows
``<video>.avi CODE `` (1 train, 2 test, 0 unused; trailing space as in the official files).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

FOLDS = (1, 2, 3)

#: writes video ``index`` of class ``label`` at ``stem`` + an extension of its choice; returns the file
VideoWriter = Callable[[Path, int, int], Path]


def placeholder(stem: Path, label: int, index: int) -> Path:
    """An ``.avi`` of placeholder bytes (list writing never decodes)."""
    path = stem.with_name(stem.name + ".avi")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded by the list writer")
    return path


def write_ucf101(root: Path, classes: list[str], per_class: int, writer: VideoWriter = placeholder
                 ) -> tuple[Path, Path]:
    """Videos and official split files; returns (videos folder, splits folder)."""
    videos, splits = root / "UCF-101", root / "ucfTrainTestlist"
    splits.mkdir(parents=True, exist_ok=True)
    (splits / "classInd.txt").write_bytes("".join(f"{i + 1} {c}\r\n" for i, c in enumerate(classes)).encode())
    rows = {f: {"train": [], "test": []} for f in FOLDS}
    for label, name in enumerate(classes):
        for i in range(per_class):
            rel = writer(videos / name / f"v_{name}_g{i + 1:02d}_c01", label, i).relative_to(videos).as_posix()
            for fold in FOLDS:
                if i % len(FOLDS) == fold - 1:
                    rows[fold]["test"].append(f"{rel}\r\n")
                else:
                    rows[fold]["train"].append(f"{rel} {label + 1}\r\n")
    for fold in FOLDS:
        (splits / f"trainlist{fold:02d}.txt").write_bytes("".join(rows[fold]["train"]).encode())
        (splits / f"testlist{fold:02d}.txt").write_bytes("".join(rows[fold]["test"]).encode())
    return videos, splits


def hmdb51_code(index: int, fold: int) -> int:
    """1 train, 2 test, 0 unused: every fold tests a different third and leaves some others unused."""
    if index % 3 == fold - 1:
        return 2
    if index % 3 == fold % 3 and (index // 3) % 2 == 1:
        return 0
    return 1


def write_hmdb51(root: Path, classes: list[str], per_class: int, writer: VideoWriter = placeholder
                 ) -> tuple[Path, Path]:
    """Videos and official split files; returns (videos folder, splits folder)."""
    videos, splits = root / "hmdb51_org", root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(classes):
        names = [writer(videos / name / f"Some_Movie_({i})_{name}_f_cm_np1_fr_med_{i}", label, i).name
                 for i in range(per_class)]
        for fold in FOLDS:
            text = "".join(f"{video} {hmdb51_code(i, fold)} \n" for i, video in enumerate(names))
            (splits / f"{name}_test_split{fold}.txt").write_text(text)
    return videos, splits


def synthetic_writer(root: Path, classes: int, per_class: int, seed: int = 0) -> VideoWriter:
    """Writer copying the videos of :func:`zoo.data.synthetic.generate` (class ``label`` = its ``label``-th
    motion class; the videos keep their own extensions)."""
    from zoo.data.synthetic import class_names, generate

    generate(root, classes=classes, videos_per_class=per_class, seed=seed, splits=("train",))
    names = class_names(classes)

    def write(stem: Path, label: int, index: int) -> Path:
        source, = (root / "train" / names[label]).glob(f"{names[label]}_{index:04d}.*")
        target = stem.with_name(stem.name + source.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target
    return write
