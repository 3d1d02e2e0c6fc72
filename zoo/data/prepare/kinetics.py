"""Kinetics annotation CSVs: rows, output naming and the class count of each Kinetics version."""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from zoo._io import read_text
from zoo.data.datasets import kinetics_clip_name
from zoo.guards import kinetics_label_dir, safe_name

#: number of classes of each Kinetics release (label sets of the official annotation files)
KINETICS_NUM_CLASSES = {"400": 400, "600": 600, "700": 700}

REQUIRED_COLUMNS = ("youtube_id", "time_start", "time_end")


@dataclass(frozen=True)
class Segment:
    """One annotation row: the ``[time_start, time_end)`` segment (seconds) of a YouTube video."""

    youtube_id: str
    time_start: float
    time_end: float
    split: str
    label: str = ""  # empty for the test split (labels held out)
    line: int = 0  # line number in the CSV (for reports)

    @property
    def clip_name(self) -> str:
        """Kinetics clip file stem: ``{youtube_id}_{start:06d}_{end:06d}``."""
        return kinetics_clip_name(self.youtube_id, self.time_start, self.time_end, "")

    def output_path(self, root: str | os.PathLike, ext: str = ".mp4") -> Path:
        """``root/{split}/{label}/{clip_name}{ext}`` (no label folder when the label is unknown); the label folder
        is named as the Kinetics tools name it (:func:`zoo.guards.kinetics_label_dir`)."""
        parts = [self.split or "unsplit"] + ([kinetics_label_dir(self.label)] if self.label else [])
        return Path(root, *parts, self.clip_name + ext)


def read_annotations(csv_path: str | os.PathLike, split: str | None = None) -> list[Segment]:
    """Read a Kinetics CSV (``label,youtube_id,time_start,time_end,split[,is_cc]``; ``label`` optional).

    ``split`` overrides/fills the split column. Raises ``ValueError`` naming the file and line on bad rows:
    times that are not finite numbers or an empty segment, and labels, splits or ids that cannot name a folder
    or file inside the output (path separators, ``..``, absolute paths, NUL: see :func:`zoo.guards.safe_name`).
    """
    csv_path = Path(csv_path)
    with io.StringIO(read_text(csv_path, "Kinetics annotation CSV"), newline="") as fh:
        reader = csv.DictReader(fh)
        header = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{csv_path}: not a Kinetics annotation CSV, missing column(s) {missing} "
                             f"(header: {header})")
        segments = []
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            try:
                start, end = float(row["time_start"]), float(row["time_end"])
            except ValueError:
                raise ValueError(f"{csv_path}:{line}: time_start/time_end are not numbers: "
                                 f"{row['time_start']!r}, {row['time_end']!r}") from None
            where = f"{csv_path}:{line}"
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
                raise ValueError(f"{where}: time_start={row['time_start']}, time_end={row['time_end']} is not a "
                                 "segment (finite seconds, 0 <= time_start < time_end)")
            if not row["youtube_id"]:
                raise ValueError(f"{where}: empty youtube_id")
            safe_name(row["youtube_id"], "youtube_id", where)
            seg_split = split or row.get("split", "") or csv_path.stem
            safe_name(seg_split, "split", where)
            label = row.get("label", "")
            if label:
                safe_name(kinetics_label_dir(label), "label", where)
            segments.append(Segment(youtube_id=row["youtube_id"], time_start=start, time_end=end,
                                    split=seg_split, label=label, line=line))
    return segments


def check_class_count(labels, version: str | int) -> list[str]:
    """Compare a label set with the class count of Kinetics-``version``; returns problem messages (empty = ok)."""
    version = str(version)
    if version not in KINETICS_NUM_CLASSES:
        raise ValueError(f"unknown Kinetics version {version!r}; expected one of {sorted(KINETICS_NUM_CLASSES)}")
    expected = KINETICS_NUM_CLASSES[version]
    found = sorted({label for label in labels if label})
    if len(found) == expected:
        return []
    return [f"label set has {len(found)} classes but Kinetics-{version} has {expected} "
            f"({'missing' if len(found) < expected else 'extra'}: {abs(expected - len(found))})"]


def compare_split_labels(segments: list[Segment]) -> list[str]:
    """Messages for labels present in some labelled splits but not in others."""
    by_split: dict[str, set[str]] = {}
    for seg in segments:
        if seg.label:
            by_split.setdefault(seg.split, set()).add(seg.label)
    if len(by_split) < 2:
        return []
    union = set().union(*by_split.values())
    return [f"split {split!r} lacks {len(union - labels)} class(es): {sorted(union - labels)[:10]}"
            for split, labels in sorted(by_split.items()) if union - labels]
