"""VMZ list files, ``classes.txt`` and per-split Kinetics CSVs from a prepared folder, and the reverse.

Folder layout: ``ROOT/{split}/{class}/{video}``. VMZ list file: a CSV with header
``org_video,label[,start_frm,video_id]`` (``label`` = line number of the class in ``classes.txt``, the
sorted class names).
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from zoo._io import atomic_write_text
from zoo.data.datasets import VideoSample, discover_folder, read_classes, read_vmz_list  # noqa: F401 (re-export)
from zoo.data.vmz_list import ListRow, write_list_file  # noqa: F401 (re-export)
from zoo.errors import UsageError
from zoo.guards import safe_name, unique_outputs

CLIP_NAME = re.compile(r"^(?P<youtube_id>.+)_(?P<start>\d{6})_(?P<end>\d{6})$")


def scan_folder(root: str | os.PathLike) -> tuple[dict[str, list[VideoSample]], list[str]]:
    """Samples per split of a ``ROOT/{split}/{class}/{video}`` folder, indexed by the sorted union of classes."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset folder not found")
    splits = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes = sorted({c.name for s in splits for c in s.iterdir() if c.is_dir() and not c.name.startswith(".")})
    layout = {}
    for split in splits:
        try:
            samples, _ = discover_folder(split, classes)
        except FileNotFoundError:  # a folder without class folders (e.g. a cache dir) is not a split
            continue
        if samples:
            layout[split.name] = samples
    if not layout:
        raise FileNotFoundError(f"{root}: no videos in the {{split}}/{{class}}/{{video}} layout")
    return layout, classes


def write_lists(root: str | os.PathLike, out_dir: str | os.PathLike | None = None, start_frm: bool = False,
                video_id: bool = False, relative: bool = False) -> dict[str, Path]:
    """Write ``classes.txt``, ``{split}_list.csv`` (VMZ) and ``{split}.csv`` (Kinetics) for a prepared folder.

    The Kinetics CSV lists the clips named ``{youtube_id}_{start:06d}_{end:06d}``; the list file lists all.
    Class indices come from the sorted union of class folders over all splits. ``start_frm`` / ``video_id``
    add those VMZ columns (0 and a running number). Paths are absolute unless ``relative`` (to ``out_dir``).
    Returns the written files by name.
    """
    root = Path(root).resolve()
    out_dir = Path(out_dir or root)
    layout, classes = scan_folder(root)
    unique_outputs([(out_dir / "classes.txt", "the class list")]
                   + [(out_dir / name, f"split {split!r}") for split in layout
                      for name in (f"{split}_list.csv", f"{split}.csv")])   # before any write
    written = {"classes.txt": out_dir / "classes.txt"}
    atomic_write_text(written["classes.txt"], "".join(f"{c}\n" for c in classes))
    next_id = 0
    for split, samples in layout.items():
        rows = []
        for sample in samples:
            path = os.path.relpath(sample.path, out_dir.resolve()) if relative else str(sample.path)
            rows.append(ListRow(path, sample.label, 0 if start_frm else None, next_id if video_id else None))
            next_id += 1
        written[f"{split}_list.csv"] = out_dir / f"{split}_list.csv"
        write_list_file(written[f"{split}_list.csv"], rows)
        written[f"{split}.csv"] = out_dir / f"{split}.csv"
        _write_kinetics_csv(written[f"{split}.csv"], split, samples, classes)
    return written


def _write_kinetics_csv(path: Path, split: str, samples: list[VideoSample], classes: list[str]) -> None:
    """Kinetics annotation CSV of a split from the clips named ``{id}_{start:06d}_{end:06d}`` (others are
    only in the VMZ list file: the format has no column for a plain file name)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
    for sample in samples:
        match = CLIP_NAME.match(sample.path.stem)
        if match:
            writer.writerow([classes[sample.label], match["youtube_id"], int(match["start"]), int(match["end"]),
                             split])
    atomic_write_text(path, buf.getvalue())


def list_to_folder(list_file: str | os.PathLike, out_dir: str | os.PathLike, split: str,
                   classes: list[str] | None = None) -> int:
    """Make ``out_dir/{split}/{class}/{video}`` symlinks for the rows of a VMZ list file; returns the count.

    Without ``classes`` the folders are named by the label number (zero-padded so they sort numerically).
    A file listed several times (dense lists: one row per start frame) is linked once. Rows whose video is
    missing raise ``FileNotFoundError`` naming the list file. Nothing is made when two different videos would
    get one link name or when a file that is not a link is in the way (it is never replaced): ``UsageError``.
    """
    safe_name(split, "split")
    for index, name in enumerate(classes or ()):
        safe_name(name, "class name", f"classes.txt line {index + 1}")
    samples, _ = read_vmz_list(list_file, on_missing="error")
    width = len(str(max((s.label for s in samples), default=0)))
    pairs = []
    for sample in samples:   # every link planned and checked before the first is made
        if classes is not None and not 0 <= sample.label < len(classes):
            raise ValueError(f"{list_file}: label {sample.label} outside classes.txt (0..{len(classes) - 1})")
        if sample.label < 0:
            raise ValueError(f"{list_file}: label {sample.label} is negative")
        folder = classes[sample.label] if classes is not None else f"{sample.label:0{width}d}"
        src = Path(sample.path).resolve()
        pairs.append((Path(out_dir, split, folder, src.name), src))
    unique_outputs(pairs)   # the same file twice (dense lists) is one link
    links = dict(pairs)
    for dst, src in links.items():
        if dst.exists() and not dst.is_symlink():
            raise UsageError(f"{dst}: a file that is not a link is in the way; zoo-prepare link never replaces "
                             "files (move it, or choose another output folder)")
    made = 0
    for dst, src in links.items():
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink():   # a link (from an earlier run): replaced only when it points elsewhere
            if dst.resolve() == src:
                continue
            dst.unlink()
        os.symlink(src, dst)
        made += 1
    return made
