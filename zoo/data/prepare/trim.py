"""``zoo-prepare trim``: cut Kinetics segments out of downloaded videos, in parallel, resumably.

Each annotation row becomes ``OUT/{split}/{label}/{youtube_id}_{start:06d}_{end:06d}.mp4`` (see
:mod:`zoo.data.prepare.segment` for the re-encoding). Finished outputs are skipped, writes are atomic, and
every row that fails is listed with its reason in a report CSV; failures never stop the run.
"""
from __future__ import annotations

import contextlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from zoo._io import atomic_write_text
from zoo.console import report_csv
from zoo.errors import WRITE_ERRNOS, describe_os_error, find_os_error
from zoo.progress import progress_bar
from zoo.data.datasets import VIDEO_EXTENSIONS
from zoo.data.prepare.kinetics import Segment
from zoo.data.parallel import imap_unordered
from zoo.guards import refuse_same_file, unique_outputs
from zoo.data.prepare.segment import SegmentError, TrimOptions, transcode_segment

#: report reason of a row whose output could not be written (disk full, read-only, permission): stops the run
WRITE_ERROR = "write_error"

REPORT_COLUMNS = ("line", "youtube_id", "label", "split", "time_start", "time_end", "status", "reason",
                  "message")


@dataclass
class TrimSummary:
    """Counts of one run and the report rows (failed and truncated segments)."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    truncated: int = 0
    reasons: Counter = field(default_factory=Counter)
    report: list[dict] = field(default_factory=list)


def find_sources(raw_dir: str | os.PathLike) -> dict[str, Path]:
    """Map each video file's stem (the YouTube id) under ``raw_dir`` (recursively) to its path.

    Partial downloads (``.part``, ``.ytdl``) and hidden files are ignored; on duplicates the first path in
    sorted order wins.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"{raw_dir}: raw video folder not found")
    sources: dict[str, Path] = {}
    for root, dirs, files in os.walk(raw_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root, name)
            if name.startswith(".") or path.suffix.lower() not in VIDEO_EXTENSIONS:
                continue
            sources.setdefault(path.stem, path)
    return sources


def _trim_one(task):
    """Worker: ``(segment, src, dst, options) -> (segment, status, reason, message)``."""
    seg, src, dst, options = task
    if src is None:
        return seg, "failed", "missing_source", "no file named after the YouTube id in the raw folder"
    # the atomic writer removes the temporaries of ``dst`` that a killed run left (old ones: a live run may
    # be writing the others); no other file is touched
    try:
        result = transcode_segment(src, dst, seg.time_start, seg.time_end, options)
    except SegmentError as err:
        return seg, "failed", err.reason, err.message
    except Exception as err:  # a broken file must never stop the run
        os_error = find_os_error(err)
        if os_error is not None and os_error.errno in WRITE_ERRNOS:   # but a full or read-only disk does
            return seg, "failed", WRITE_ERROR, describe_os_error(os_error)
        return seg, "failed", "undecodable", f"{type(err).__name__}: {err}"
    if result.truncated:
        return seg, "truncated", "video_ends_early", f"{result.duration:.3f} s written"
    return seg, "done", "", ""


def trim_segments(segments: list[Segment], raw_dir: str | os.PathLike, out_dir: str | os.PathLike,
                  options: TrimOptions | None = None, workers: int = 1, report_path: str | os.PathLike | None = None,
                  progress: bool = True) -> TrimSummary:
    """Trim every segment into ``out_dir``; returns a :class:`TrimSummary` and writes the report CSV."""
    options = options or TrimOptions()
    out_dir = Path(out_dir)
    planned = [(seg.output_path(out_dir), _Row(seg)) for seg in segments]
    unique_outputs(planned, key=_Row.segment)   # before any work
    sources = find_sources(raw_dir)
    if report_path is not None:
        refuse_same_file(report_path, sources.values(), "--report")
    summary = TrimSummary()
    tasks, queued = [], set()
    for dst, row in planned:
        if dst.exists() or dst in queued:   # done by an earlier run, or the same segment listed twice
            summary.skipped += 1
        else:
            queued.add(dst)
            tasks.append((row.seg, sources.get(row.seg.youtube_id), dst, options))
    bar = progress_bar(total=len(tasks), desc="trim", unit="clip", enabled=progress)
    try:
        _collect(imap_unordered(_trim_one, tasks, workers), summary, bar)
    finally:
        bar.close()
        summary.report.sort(key=lambda row: row["line"])
        if report_path is not None:
            with contextlib.suppress(OSError):   # the disk may be the problem; the error below says so
                write_report(report_path, summary.report)
    return summary


@dataclass(frozen=True)
class _Row:
    """An annotation row as named in an error message; :meth:`segment` says which rows are the same clip."""

    seg: Segment

    def segment(self) -> tuple:
        return self.seg.youtube_id, self.seg.time_start, self.seg.time_end, self.seg.split, self.seg.label

    def __str__(self) -> str:
        return f"line {self.seg.line} ({self.seg.youtube_id} {self.seg.time_start:g}-{self.seg.time_end:g} s)"


def _collect(results, summary: TrimSummary, bar) -> None:
    for seg, status, reason, message in results:
        if status == "failed":
            summary.failed += 1
            summary.reasons[reason] += 1
        else:
            summary.done += 1
            summary.truncated += status == "truncated"
        if status != "done":
            summary.report.append(dict(line=seg.line, youtube_id=seg.youtube_id, label=seg.label, split=seg.split,
                                       time_start=seg.time_start, time_end=seg.time_end, status=status,
                                       reason=reason, message=message))
        bar.set_postfix(failed=summary.failed, refresh=False)
        bar.update()
        if reason == WRITE_ERROR:   # every later row would fail the same way: stop
            raise OSError(f"cannot write the output ({message}); stopped after {summary.done} clip(s), "
                          "run the same command again to continue")


def write_report(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write the failure/truncation report (columns :data:`REPORT_COLUMNS`, escaped as on the console) atomically."""
    atomic_write_text(path, report_csv(REPORT_COLUMNS, ([row.get(k, "") for k in REPORT_COLUMNS] for row in rows)))
