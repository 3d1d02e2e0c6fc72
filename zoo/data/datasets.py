"""Find the videos and labels of a dataset in one of three layouts.

* Kinetics folder layout: ``ROOT/{split}/{class}/{video}`` (torchvision / ActivityNet downloader). Classes
  are the sorted folder names unless a class list is given. Entries starting with ``.`` (hidden files,
  in-progress atomic writes) are ignored, as are files without a video extension.
* VMZ list files: CSV ``org_video,label[,start_frm,video_id]`` (header optional); relative paths are
  resolved against the list file's folder; a ``classes.txt`` beside the list names its labels. The per-fold
  lists of ``zoo-prepare ucf101|hmdb51`` are ``ROOT/train_foldN.csv`` and ``ROOT/test_foldN.csv``
  (:func:`fold_splits`).
* Kinetics annotation CSVs (``label,youtube_id,time_start,time_end,split[,is_cc]``) over trimmed clips named
  ``{youtube_id}_{start:06d}_{end:06d}.mp4``, looked up in ``DIR/{split}/{label}/``, ``DIR/{label}/``,
  ``DIR/{split}/`` and ``DIR/`` (``DIR``: the CSV's folder). Rows without a label (test split) get label -1.

:func:`discover` picks the layout from ``data_path`` and ``split``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from zoo._io import atomic_write_text, read_text
from zoo.paths import data_cache_root
from zoo.data.errors import ClassMismatchError, DatasetWarning
from zoo.data.lmdb_videos import export_lmdb
from zoo.guards import kinetics_label_dir
from zoo.limits import MAX_CLASSES
from zoo.fields import check_class_names

#: file extensions of what ffmpeg demuxes as video: containers, transport streams, raw elementary streams
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".ogv", ".3gp",
                    ".3g2", ".ts", ".mts", ".m2ts", ".vob", ".wmv", ".asf", ".mxf", ".rm", ".rmvb", ".divx", ".f4v",
                    ".nut", ".dv", ".gif", ".ivf", ".y4m", ".m1v", ".m2v", ".mpv", ".264", ".h264", ".avc",
                    ".265", ".h265", ".hevc", ".mjpeg", ".mjpg", ".obu")
KINETICS_CSV_COLUMNS = {"label", "youtube_id", "time_start", "time_end"}


@dataclass(frozen=True)
class VideoSample:
    """One video (or one clip start of it, for dense VMZ lists): its file, class index and id.

    ``label`` is -1 when unknown. Samples sharing a ``video_id`` are aggregated together at test time.
    """

    path: Path
    label: int
    video_id: str
    start_frame: int | None = None   # VMZ list ``start_frm``: this row is one clip starting there (dense)


def class_key(name: str) -> str:
    """Normalised class name: ``"Air Drumming"``, ``"air_drumming"`` and ``"air-drumming"`` match."""
    return re.sub(r"[^0-9a-z()]+", "_", name.lower().replace("'", "")).strip("_")


def class_index(names: Iterable[str], classes: Sequence[str], source: str) -> dict[str, int]:
    """Map each dataset class name to its index in ``classes``; :class:`ClassMismatchError` if one is absent.

    Names match exactly or after :func:`class_key` normalisation.
    """
    exact = {c: i for i, c in enumerate(classes)}
    loose: dict[str, int] = {}
    for i, c in enumerate(classes):
        loose.setdefault(class_key(c), i)
    mapping, unknown = {}, []
    for name in names:
        if name in exact:
            mapping[name] = exact[name]
        elif class_key(name) in loose:
            mapping[name] = loose[class_key(name)]
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(repr(n) for n in sorted(unknown)[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise ClassMismatchError(
            f"{source}: {len(unknown)} class(es) not in the given class list of {len(classes)} "
            f"(e.g. from the checkpoint): {shown}{more}. Check --data-path/--split or the class list.")
    return mapping


def is_video_file(path: Path) -> bool:
    """A visible file with a video extension (dotfiles are temporary or hidden)."""
    return not path.name.startswith(".") and path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file()


def discover_folder(root: str | os.PathLike, classes: Sequence[str] | None = None
                    ) -> tuple[list[VideoSample], list[str]]:
    """Samples of a ``root/{class}/{video}`` tree; class names from ``classes`` or the sorted folders."""
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise FileNotFoundError(f"{root}: no class folders (expected {root}/<class>/<video>)")
    names = [p.name for p in folders]
    if classes is None:
        classes = names
    mapping = class_index(names, classes, str(root))
    samples, left_out = [], []
    for folder in folders:
        for video in sorted(folder.iterdir()):
            if is_video_file(video):
                samples.append(VideoSample(video, mapping[folder.name], f"{folder.name}/{video.stem}"))
            elif video.is_file() and not video.name.startswith("."):
                left_out.append(video)
    if left_out:  # never silently: a video in a format missing from VIDEO_EXTENSIONS would vanish
        shown = ", ".join(str(p.relative_to(root)) for p in left_out[:5])
        more = f" and {len(left_out) - 5} more" if len(left_out) > 5 else ""
        warnings.warn(DatasetWarning(root, "left_out", f"{len(left_out)} file(s) in class folders left out, their "
                                     f"extension is not a video one: {shown}{more}"), stacklevel=2)
    return samples, list(classes)


def _read_csv(path: Path) -> list[list[str]]:
    with io.StringIO(read_text(path, "CSV list file"), newline="") as fh:
        return [row for row in csv.reader(fh) if row and any(cell.strip() for cell in row)]


def _check_missing(samples: list[VideoSample], missing: list[str], source: Path, on_missing: str) -> None:
    if not missing:
        return
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    text = f"{source}: {len(missing)} listed video(s) not found: {shown}"
    if on_missing == "error":
        raise FileNotFoundError(text + " (correct those rows or remove them from the list)")
    warnings.warn(text + " (skipped)", stacklevel=3)


def read_classes(path: str | os.PathLike) -> list[str]:
    """Class names of a ``classes.txt`` (one per line, index = line number)."""
    names = [line.strip() for line in read_text(path, "class list").splitlines()]
    return list(check_class_names([n for n in names if n], str(path)))


def fold_splits(fold: int) -> tuple[str, str]:
    """Split names of fold ``fold``: ``("train_foldN", "test_foldN")`` (``ROOT/{split}.csv`` list files)."""
    return f"train_fold{fold}", f"test_fold{fold}"


def check_fold(data_path: str | os.PathLike, fold: int) -> None:
    """``FileNotFoundError`` naming the folds present when ``data_path`` has no list files for ``fold``."""
    root = Path(data_path)
    if all((root / f"{name}.csv").is_file() for name in fold_splits(fold)):
        return
    present = sorted(int(m[1]) for p in root.glob("test_fold*.csv")
                     if (m := re.fullmatch(r"test_fold(\d+)\.csv", p.name)))
    found = f"folds present: {', '.join(map(str, present))}" if present else "no fold list files there"
    raise FileNotFoundError(f"{root}: no fold {fold} ({'/'.join(n + '.csv' for n in fold_splits(fold))}; {found}); "
                            "zoo-prepare ucf101|hmdb51 writes them")


def evaluation_split(data_path: str | os.PathLike | None, fold: int | None, split: str | None, default: str | None
                  ) -> str | None:
    """The split an evaluating tool reads: ``test_foldN`` for ``fold`` N (checked with :func:`check_fold`),
    else ``split``, else ``default``. ``ValueError`` when both ``fold`` and ``split`` are given."""
    if fold is None:
        return default if split is None else split
    if split is not None:
        raise ValueError("give --fold N or --split, not both (--fold N reads test_foldN)")
    if data_path is None:
        raise ValueError("--fold needs --data-path (a folder written by zoo-prepare ucf101|hmdb51)")
    check_fold(data_path, fold)
    return fold_splits(fold)[1]


def read_vmz_list(list_file: str | os.PathLike, classes: Sequence[str] | None = None,
                  on_missing: str = "error") -> tuple[list[VideoSample], list[str]]:
    """Samples of a VMZ list file ``org_video,label[,start_frm,video_id]``.

    Class names: ``classes`` when given (labels must be < its length), else those of a ``classes.txt`` beside
    the list file, else ``"0"``, ``"1"``, ...
    """
    list_file = Path(list_file)
    rows = _read_csv(list_file)
    first_line = 1
    if rows and rows[0][0].strip() == "org_video":
        header = [c.strip() for c in rows[0]]
        rows, first_line = rows[1:], 2
    else:
        header = ["org_video", "label", "start_frm", "video_id"][:len(rows[0]) if rows else 2]
    col = {name: k for k, name in enumerate(header)}
    if "label" not in col:
        raise ValueError(f"{list_file}: no 'label' column (header: {header})")
    samples, missing = [], []
    for line, row in enumerate(rows, start=first_line):
        try:
            path = Path(row[col["org_video"]].strip())
            label = int(row[col["label"]])
            start = int(row[col["start_frm"]]) if "start_frm" in col and len(row) > col["start_frm"] else None
            vid = row[col["video_id"]].strip() if "video_id" in col and len(row) > col["video_id"] else ""
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{list_file}:{line}: bad row {row!r} ({exc})") from None
        if not -1 <= label < MAX_CLASSES:    # -1: unlabelled; the class names are a list as long as the top label
            raise ValueError(f"{list_file}:{line}: label {label} is not a class number (-1 for unlabelled, "
                             f"0..{MAX_CLASSES - 1})")
        path = path if path.is_absolute() else list_file.parent / path
        if not path.is_file():
            missing.append(str(path))
            continue
        samples.append(VideoSample(path, label, vid or str(path), start))
    _check_missing(samples, missing, list_file, on_missing)
    top = max((s.label for s in samples), default=-1)
    names_file = list_file.parent / "classes.txt"
    if classes is None and names_file.is_file():
        classes = read_classes(names_file)
        if top >= len(classes):
            raise ClassMismatchError(f"{list_file}: label {top} but {names_file} names {len(classes)} classes")
    elif classes is None:
        classes = [str(i) for i in range(top + 1)]
    elif top >= len(classes):
        raise ClassMismatchError(f"{list_file}: label {top} but the class list has {len(classes)} classes")
    return samples, list(classes)


def kinetics_clip_name(youtube_id: str, start: int, end: int, ext: str = ".mp4") -> str:
    """File name of a trimmed Kinetics clip: ``{youtube_id}_{start:06d}_{end:06d}.mp4``."""
    return f"{youtube_id}_{int(start):06d}_{int(end):06d}{ext}"


def _find_clip(base: Path, split: str, label: str, stem: str) -> Path | None:
    dirs = [base / split / label, base / label, base / split, base] if label else [base / split, base]
    folder = kinetics_label_dir(label)
    dirs += [base / split / folder, base / folder] if label else []
    for d in dirs:
        for ext in VIDEO_EXTENSIONS:
            candidate = d / (stem + ext)
            if candidate.is_file():
                return candidate
    return None


def read_kinetics_csv(csv_file: str | os.PathLike, classes: Sequence[str] | None = None,
                      video_dir: str | os.PathLike | None = None, on_missing: str = "error"
                      ) -> tuple[list[VideoSample], list[str]]:
    """Samples of a Kinetics annotation CSV; clips are looked for under ``video_dir`` (default: the CSV's
    folder). Class names: ``classes`` or the sorted labels of the CSV."""
    csv_file = Path(csv_file)
    base = Path(video_dir) if video_dir is not None else csv_file.parent
    with io.StringIO(read_text(csv_file, "Kinetics annotation CSV"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"youtube_id", "time_start", "time_end"} <= set(rows[0]):
        raise ValueError(f"{csv_file}: not a Kinetics annotation CSV (needs youtube_id,time_start,time_end)")
    labels = sorted({(r.get("label") or "").strip() for r in rows} - {""})
    if classes is None:
        classes = labels
    mapping = class_index(labels, classes, str(csv_file))
    samples, missing = [], []
    for r in rows:
        label = (r.get("label") or "").strip()
        stem = kinetics_clip_name(r["youtube_id"], float(r["time_start"]), float(r["time_end"]), "")
        path = _find_clip(base, (r.get("split") or "").strip(), label, stem)
        if path is None:
            missing.append(stem)
            continue
        samples.append(VideoSample(path, mapping[label] if label else -1, stem))
    _check_missing(samples, missing, csv_file, on_missing)
    return samples, list(classes)


def read_list_file(path: str | os.PathLike, classes: Sequence[str] | None = None, on_missing: str = "error"
                   ) -> tuple[list[VideoSample], list[str]]:
    """A VMZ list file or a Kinetics annotation CSV, told apart by the header."""
    path = Path(path)
    with io.StringIO(read_text(path, "list file"), newline="") as fh:
        header = {c.strip() for c in next(csv.reader(fh), [])}
    if KINETICS_CSV_COLUMNS - {"label"} <= header:
        return read_kinetics_csv(path, classes, on_missing=on_missing)
    return read_vmz_list(path, classes, on_missing=on_missing)


def is_video_lmdb(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an LMDB environment folder (VMZ ``create_video_db.py`` output)."""
    return (Path(path) / "data.mdb").is_file()


def read_video_lmdb(db: str | os.PathLike, classes: Sequence[str] | None = None, on_missing: str = "error",
                    cache_dir: str | os.PathLike | None = None) -> tuple[list[VideoSample], list[str]]:
    """Samples of a VMZ video LMDB (records of encoded video bytes or paths, label, start frame, video id).

    Path records are used in place. Byte records are unpacked once into the user cache folder (keyed by the
    database's path, size and modification time), because the single-pass decoder seeks in them; later calls
    reuse that copy. Class names: ``classes`` when given, else the label numbers.
    """
    db = Path(db).resolve()
    stat = (db / "data.mdb").stat()
    key = hashlib.sha1(f"{db}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else data_cache_root() / "lmdb"
    out = root / f"{db.name}-{key}"
    done = out / ".complete"
    if not done.is_file():
        export_lmdb(db, out, split="all")
        atomic_write_text(done, str(db))
    return read_vmz_list(out / "all_list.csv", classes, on_missing)


def discover(data_path: str | os.PathLike, split: str | None = None, classes: Sequence[str] | None = None,
             on_missing: str = "error") -> tuple[list[VideoSample], list[str]]:
    """Samples and class names of a dataset.

    ``data_path`` is a list/annotation CSV file, a VMZ video LMDB (:func:`read_video_lmdb`), or a folder: with ``split``, ``ROOT/{split}/`` (class
    folders) or else ``ROOT/{split}.csv`` / ``ROOT/{split}list.csv``; without, ``ROOT`` holds the class
    folders. ``classes`` fixes the class index (e.g. a checkpoint's); a dataset class absent from it raises
    :class:`ClassMismatchError`. ``on_missing``: ``"error"`` or ``"skip"`` (warn) for listed videos that
    do not exist. Raises ``FileNotFoundError`` for a wrong path or a dataset without videos.
    """
    if on_missing not in ("error", "skip"):
        raise ValueError(f"on_missing must be 'error' or 'skip', got {on_missing!r}")
    root = Path(data_path)
    if not root.exists():
        raise FileNotFoundError(f"{root}: data path does not exist")
    if is_video_lmdb(root):
        samples, names = read_video_lmdb(root, classes, on_missing)
    elif root.is_file():
        samples, names = read_list_file(root, classes, on_missing)
    elif split is None:
        samples, names = discover_folder(root, classes)
    elif (root / split).is_dir():
        samples, names = discover_folder(root / split, classes)
    else:
        for candidate in (root / f"{split}.csv", root / f"{split}list.csv", root / f"{split}_list.csv"):
            if candidate.is_file():
                samples, names = read_list_file(candidate, classes, on_missing)
                break
        else:
            raise FileNotFoundError(f"{root}: no split {split!r} (looked for {root / split}/ and "
                                    f"{root / split}.csv)")
    if not samples:
        hint = ""
        if split is None and root.is_dir() and any((root / s).is_dir() for s in ("train", "val", "test")):
            hint = " (it has split folders: pass a split such as 'val')"
        raise FileNotFoundError(f"{root}" + (f" (split {split!r})" if split else "") + f": no videos found{hint}")
    return samples, names
