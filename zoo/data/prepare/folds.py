"""Per-fold list files from official splits: the listed videos matched to the extracted files.

``OUT/train_foldN.csv`` and ``OUT/test_foldN.csv`` are VMZ list files (``org_video,label``, label = line of
``OUT/classes.txt``), which every tool reads with ``--data-path OUT --fold N``. Listed videos that are not on
disk are left out; files on disk that no split names are ignored; both are counted in the report
(``OUT/prepare_report.json``), as are class archives that were never extracted.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from zoo._io import atomic_write_text
from zoo.data.datasets import fold_splits, is_video_file
from zoo.data.prepare.lists import ListRow, write_list_file
from zoo.data.prepare.official_splits import ARCHIVE_SUFFIXES, OfficialSplits, check_extracted
from zoo.guards import refuse_same_file

REPORT_FILE = "prepare_report.json"


class NoVideosError(RuntimeError):
    """None of the videos the split files list is in the videos folder (a failure: exit status 1)."""


@dataclass
class FoldsReport:
    """What :func:`write_folds` found and wrote."""

    dataset: str
    num_classes: int
    listed: int                                   # distinct videos named by the split files
    found: int                                    # of those, present under the videos folder
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)        # video files no split names
    unextracted: list[str] = field(default_factory=list)  # archives in the videos folder without a class folder
    folds: dict[int, dict[str, int]] = field(default_factory=dict)   # fold -> {"train": n, "test": n, "unused": n}
    files: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """Human-readable lines for the console (names come from the split files: print with
        :func:`zoo.console.say`)."""
        lines = [f"{self.dataset}: {self.num_classes} classes, {self.listed} videos listed, {self.found} found, "
                 f"{len(self.missing)} missing, {len(self.extra)} extra (not in any split, ignored)"]
        for fold, counts in sorted(self.folds.items()):
            unused = f", {counts['unused']} unused" if counts.get("unused") else ""
            lines.append(f"  fold {fold}: {counts['train']} train, {counts['test']} test{unused}")
        for what, names in (("missing (left out of the lists)", self.missing), ("extra", self.extra),
                            ("not extracted", self.unextracted)):
            if names:
                shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                lines.append(f"  {what}: {shown}")
        return lines


def index_videos(videos_dir: Path) -> dict[PurePosixPath, Path]:
    """Video files one level down (``VIDEOS/<class>/<video>``), keyed by their relative path."""
    found = {}
    for folder in sorted(p for p in videos_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for video in sorted(folder.iterdir()):
            if is_video_file(video):
                found[PurePosixPath(folder.name, video.name)] = video
    return found


def _match(listed: set[PurePosixPath], on_disk: dict[PurePosixPath, Path]) -> dict[PurePosixPath, Path]:
    """Listed video -> file, exactly or else ignoring case (copies made on case-insensitive file systems)."""
    folded = {str(k).lower(): v for k, v in on_disk.items()}
    matched = {}
    for video in listed:
        path = on_disk.get(video) or folded.get(str(video).lower())
        if path is not None:
            matched[video] = path
    return matched


def write_folds(splits: OfficialSplits, videos_dir: str | os.PathLike, out_dir: str | os.PathLike,
                relative: bool = False) -> FoldsReport:
    """Write ``classes.txt``, ``train_foldN.csv``/``test_foldN.csv`` and the report; returns the report.

    Paths in the lists are absolute, or relative to ``out_dir`` with ``relative``. Raises
    :class:`~zoo.errors.UsageError` when the videos folder is missing or not extracted, or when an output would
    replace one of the split files read; :class:`NoVideosError` when none of the listed videos is there.
    """
    videos_dir, out_dir = Path(videos_dir), Path(out_dir)
    check_extracted(videos_dir, f"{splits.dataset} videos", "extract the archives first (e.g. `unrar x`), so that "
                    "the folder holds one sub-folder of videos per class")
    outputs = [out_dir / "classes.txt", out_dir / REPORT_FILE]
    for fold in splits.folds:
        outputs += [out_dir / f"{name}.csv" for name in fold_splits(fold)]
    for output in outputs:
        refuse_same_file(output, splits.sources, "output")
    on_disk = index_videos(videos_dir)
    listed = splits.listed()
    matched = _match(listed, on_disk)
    if listed and not matched:
        raise NoVideosError(f"{videos_dir}: none of the {len(listed)} videos the splits list is there "
                                f"(expected {videos_dir}/<class>/<video>, e.g. {videos_dir / sorted(listed)[0]})")
    used_files = set(matched.values())
    class_dirs = {k.parts[0] for k in on_disk}
    report = FoldsReport(
        dataset=splits.dataset, num_classes=len(splits.classes), listed=len(listed), found=len(matched),
        missing=sorted(str(v) for v in listed - set(matched)),
        extra=sorted(str(k) for k, p in on_disk.items() if p not in used_files),
        unextracted=sorted(p.name for p in videos_dir.iterdir() if p.is_file()
                           and p.suffix.lower() in ARCHIVE_SUFFIXES and p.stem not in class_dirs))
    atomic_write_text(out_dir / "classes.txt", "".join(f"{c}\n" for c in splits.classes))
    base = out_dir.absolute()
    for fold, rows in sorted(splits.folds.items()):
        counts = {}
        for kind, name in zip(("train", "test"), fold_splits(fold)):
            kept = [ListRow(os.path.relpath(matched[e.video].absolute(), base) if relative
                            else str(matched[e.video].absolute()), e.label)
                    for e in rows[kind] if e.video in matched]
            write_list_file(out_dir / f"{name}.csv", kept)
            counts[kind] = len(kept)
            report.files.append(str(out_dir / f"{name}.csv"))
        counts["unused"] = len(splits.unused.get(fold, ()))
        report.folds[fold] = counts
    report.files.insert(0, str(out_dir / "classes.txt"))
    atomic_write_text(out_dir / REPORT_FILE, json.dumps(asdict(report), indent=1) + "\n")
    return report
