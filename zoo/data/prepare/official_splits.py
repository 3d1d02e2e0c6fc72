"""Readers for the official train/test splits of UCF101 and HMDB51, as the authors distribute them.

UCF101 (``ucfTrainTestlist/``): ``classInd.txt`` (``N ClassName``, N from 1), ``trainlistNN.txt``
(``Class/v_Class_gGG_cCC.avi N``: the video and its 1-based class index) and ``testlistNN.txt`` (the video
only; the class is its folder). HMDB51 (``testTrainMulti_7030_splits/``): ``<class>_test_splitN.txt`` with
rows ``video.avi CODE`` where 1 = training, 2 = testing, 0 = not used in that split; the class name is the
file name's prefix.

Every video name is untrusted text: :func:`safe_relative_path` accepts only plain relative names (each
component passes :func:`zoo.guards.safe_name` and is not hidden) before any of it is joined to a folder.
Class labels are 0-based indices into :attr:`OfficialSplits.classes`. Wrong or missing split files and
folders that were not extracted are usage errors (:class:`zoo.errors.UsageError`, exit status 2).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from zoo.errors import UsageError
from zoo.guards import safe_name

UCF101_CLASSES_FILE = "classInd.txt"
UCF101_LIST = re.compile(r"^(?P<kind>train|test)list(?P<fold>\d+)\.txt$")
HMDB51_SPLIT = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>\d+)\.txt$")
HMDB51_CODES = {"0": None, "1": "train", "2": "test"}
ARCHIVE_SUFFIXES = (".rar", ".zip", ".7z", ".tar", ".gz", ".tgz")


class SplitFormatError(UsageError):
    """A split file that does not follow the official format (the message names the file and line)."""


@dataclass(frozen=True)
class SplitEntry:
    """One listed video: its path relative to the videos folder (``Class/name.avi``) and its class index."""

    video: PurePosixPath
    label: int


@dataclass
class OfficialSplits:
    """The folds of a dataset: ``folds[n]["train" | "test"]`` lists the videos of fold ``n``."""

    dataset: str
    classes: list[str]
    folds: dict[int, dict[str, list[SplitEntry]]]
    unused: dict[int, set[PurePosixPath]] = field(default_factory=dict)   # fold -> videos marked 0 (HMDB51)
    sources: list[Path] = field(default_factory=list)                     # the files read

    def listed(self) -> set[PurePosixPath]:
        """Every video named by any split file (including HMDB51's unused ones)."""
        used = {e.video for fold in self.folds.values() for rows in fold.values() for e in rows}
        return used.union(*self.unused.values())


def safe_relative_path(text: str, source: str, parts: int | None = None) -> PurePosixPath:
    """``text`` as a relative POSIX path with plain components, or :class:`SplitFormatError` naming ``source``.

    ``parts`` requires that many components (e.g. 2 for ``Class/video.avi``).
    """
    components = text.split("/")
    shape = {1: "a file name", 2: "CLASS/FILE"}.get(parts, "a relative path")
    if parts is not None and len(components) != parts:
        raise SplitFormatError(f"{source}: {text!r} is not {shape}")
    for component in components:
        try:
            safe_name(component, "name", source)
        except UsageError as exc:
            raise SplitFormatError(f"{exc} ({text!r} is not {shape})") from None
        if component.startswith("."):
            raise SplitFormatError(f"{source}: {text!r} is not {shape}: hidden name {component!r}")
    return PurePosixPath(*components)


def check_extracted(folder: Path, what: str, hint: str) -> None:
    """A clear error when ``folder`` is missing, is an archive, or holds only archives (not extracted yet)."""
    if folder.is_file() and folder.suffix.lower() in ARCHIVE_SUFFIXES:
        raise UsageError(f"{folder}: this is the {what} archive, not the extracted folder; {hint}")
    if not folder.is_dir():
        raise UsageError(f"{folder}: {what} folder not found")
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    archives = [p for p in entries if p.is_file() and p.suffix.lower() in ARCHIVE_SUFFIXES]
    if archives and not any(p.is_dir() for p in entries) and not any(p.suffix == ".txt" for p in entries):
        shown = ", ".join(p.name for p in sorted(archives)[:3]) + (" ..." if len(archives) > 3 else "")
        raise UsageError(f"{folder}: holds {len(archives)} archive(s) ({shown}) but nothing extracted; {hint}")


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines (stripped, CRLF tolerated) with their 1-based numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_ucf101_classes(path: Path) -> list[str]:
    """Class names of ``classInd.txt``: line ``k`` must be ``k ClassName`` (k from 1, consecutive)."""
    classes: list[str] = []
    for number, line in _lines(path):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise SplitFormatError(f"{path}:{number}: expected 'INDEX CLASSNAME', got {line!r}")
        if int(fields[0]) != len(classes) + 1:
            raise SplitFormatError(f"{path}:{number}: class index {fields[0]} where {len(classes) + 1} was expected "
                                   "(indices start at 1 and are consecutive)")
        name = str(safe_relative_path(fields[1], f"{path}:{number}", parts=1))
        if name in classes:
            raise SplitFormatError(f"{path}:{number}: class {name!r} listed twice")
        classes.append(name)
    if not classes:
        raise SplitFormatError(f"{path}: no classes")
    return classes


def _ucf101_row(path: Path, number: int, line: str, kind: str, lookup: dict[str, int],
                classes: list[str]) -> SplitEntry:
    fields = line.split()
    where = f"{path}:{number}"
    if kind == "train":
        if len(fields) != 2 or not fields[1].isdigit():
            raise SplitFormatError(f"{where}: expected 'CLASS/VIDEO.avi INDEX', got {line!r}")
        index = int(fields[1])
        if not 1 <= index <= len(classes):
            raise SplitFormatError(f"{where}: class index {index} outside 1..{len(classes)} of "
                                   f"{UCF101_CLASSES_FILE} (indices start at 1)")
        label = index - 1
    elif len(fields) != 1:
        raise SplitFormatError(f"{where}: expected 'CLASS/VIDEO.avi' (test lists have no index), got {line!r}")
    video = safe_relative_path(fields[0], where, parts=2)
    folder_label = lookup.get(video.parts[0].lower())
    if folder_label is None:
        raise SplitFormatError(f"{where}: folder {video.parts[0]!r} is not a class of {UCF101_CLASSES_FILE}")
    if kind == "train" and folder_label != label:
        raise SplitFormatError(f"{where}: index {label + 1} is {classes[label]!r} but the video is in "
                               f"{video.parts[0]!r}")
    return SplitEntry(video, folder_label)


def read_ucf101_splits(splits_dir: str | Path) -> OfficialSplits:
    """The three (or however many are present) folds of UCF101 from the official list folder."""
    splits_dir = Path(splits_dir)
    check_extracted(splits_dir, "UCF101 split (ucfTrainTestlist)",
                    "extract UCF101TrainTestSplits-RecognitionTask.zip and pass the ucfTrainTestlist/ folder")
    class_file = splits_dir / UCF101_CLASSES_FILE
    if not class_file.is_file():
        raise UsageError(f"{splits_dir}: no {UCF101_CLASSES_FILE} (expected the ucfTrainTestlist/ folder "
                                "with classInd.txt, trainlist01.txt ... testlist03.txt)")
    classes = read_ucf101_classes(class_file)
    lookup = {c.lower(): i for i, c in enumerate(classes)}
    lists: dict[int, dict[str, Path]] = {}
    for path in sorted(splits_dir.iterdir()):
        match = UCF101_LIST.match(path.name)
        if match and path.is_file():
            lists.setdefault(int(match["fold"]), {})[match["kind"]] = path
    if not lists:
        raise UsageError(f"{splits_dir}: no trainlistNN.txt / testlistNN.txt files")
    splits = OfficialSplits("ucf101", classes, {}, sources=[class_file])
    for fold, files in sorted(lists.items()):
        for kind in ("train", "test"):
            if kind not in files:
                raise UsageError(f"{splits_dir}: fold {fold} has no {kind}list{fold:02d}.txt")
        fold_rows = {}
        for kind in ("train", "test"):
            fold_rows[kind] = [_ucf101_row(files[kind], n, line, kind, lookup, classes)
                               for n, line in _lines(files[kind])]
            splits.sources.append(files[kind])
        _check_disjoint(fold, fold_rows, files["test"])
        splits.folds[fold] = fold_rows
    return splits


def read_hmdb51_splits(splits_dir: str | Path) -> OfficialSplits:
    """The folds of HMDB51 from the ``<class>_test_splitN.txt`` files; classes sorted by name."""
    splits_dir = Path(splits_dir)
    check_extracted(splits_dir, "HMDB51 split (testTrainMulti_7030_splits)",
                    "extract test_train_splits.rar (e.g. `unrar x test_train_splits.rar`) and pass the "
                    "testTrainMulti_7030_splits/ folder")
    files: dict[str, dict[int, Path]] = {}
    for path in sorted(splits_dir.iterdir()):
        match = HMDB51_SPLIT.match(path.name)
        if match and path.is_file():
            name = str(safe_relative_path(match["cls"], str(path), parts=1))
            files.setdefault(name, {})[int(match["fold"])] = path
    if not files:
        raise UsageError(f"{splits_dir}: no <class>_test_splitN.txt files (expected the extracted "
                                "testTrainMulti_7030_splits/ folder)")
    folds = sorted({f for per_class in files.values() for f in per_class})
    for name, per_class in sorted(files.items()):
        if sorted(per_class) != folds:
            absent = ", ".join(f"{name}_test_split{f}.txt" for f in folds if f not in per_class)
            raise UsageError(f"{splits_dir}: missing {absent} (every class needs every split)")
    classes = sorted(files)
    splits = OfficialSplits("hmdb51", classes, {f: {"train": [], "test": []} for f in folds})
    for label, name in enumerate(classes):
        for fold in folds:
            path = files[name][fold]
            splits.sources.append(path)
            listed = set()
            for number, line in _lines(path):
                fields = line.split()
                if len(fields) != 2 or fields[1] not in HMDB51_CODES:
                    raise SplitFormatError(f"{path}:{number}: expected 'VIDEO.avi 0|1|2' (1 = train, 2 = test, "
                                           f"0 = unused), got {line!r}")
                video = PurePosixPath(name) / safe_relative_path(fields[0], f"{path}:{number}", parts=1)
                if video in listed:
                    raise SplitFormatError(f"{path}:{number}: {fields[0]} listed twice")
                listed.add(video)
                kind = HMDB51_CODES[fields[1]]
                if kind is None:
                    splits.unused.setdefault(fold, set()).add(video)
                else:
                    splits.folds[fold][kind].append(SplitEntry(video, label))
    return splits


def _check_disjoint(fold: int, rows: dict[str, list[SplitEntry]], source: Path) -> None:
    both = {e.video for e in rows["train"]} & {e.video for e in rows["test"]}
    if both:
        shown = ", ".join(str(v) for v in sorted(both)[:3])
        raise SplitFormatError(f"{source}: {len(both)} video(s) of fold {fold} are in both its train and test "
                               f"lists: {shown}")
