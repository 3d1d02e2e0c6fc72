"""Per-video result records written as the run goes, and reading them back for ``--resume``.

Each rank appends one JSON line per finished video to ``DIR/records-<rank>.jsonl`` (flushed and fsynced,
so a crash loses at most the line being written). At the end rank 0 rewrites all of them atomically as
``DIR/records.jsonl``. ``DIR/run.json`` stores the settings a resumed run must match.

A record is ``{"index", "path", "label", "status": "ok", "views", "clip_top1", "clip_top5", "scores"}``
(plus ``"warnings"``, the ``"kind: detail"`` texts of a video used despite them, when it has any) or
``{"index", "path", "label", "status": "skipped", "reason"}`` (a refusal; status ``"wrong"`` for a video
shorter than one clip that the ``wrong`` short-video rule counts as a wrong prediction).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from zoo._io import atomic_write_text
from zoo.errors import UsageError
from zoo.evaluate.report import SCORE_FORMATS
from zoo.guards import check_regular_output

RUN_FILE = "run.json"
MERGED_RECORDS = "records.jsonl"


@dataclass(frozen=True)
class RunOutput:
    """What an evaluation writes, and where: ``folder`` (``None``: nothing is written) gets the records,
    ``metrics.json`` and ``scores.<scores_format>``, rewritten at least every ``save_every`` seconds;
    ``resume`` skips the videos already recorded there; ``settings`` describe the run (stored in ``run.json``,
    which a resumed run must match, and in the metrics)."""

    folder: Path | None = None
    resume: bool = False
    settings: dict | None = None
    scores_format: str = "npz"
    save_every: float = 60.0

    def __post_init__(self):
        if self.folder is not None:
            object.__setattr__(self, "folder", Path(self.folder))
        if self.scores_format not in SCORE_FORMATS:
            raise ValueError(f"scores_format must be one of {SCORE_FORMATS}, got {self.scores_format!r}")
        if not self.save_every >= 0:
            raise ValueError(f"save_every must be >= 0 seconds, got {self.save_every!r}")


class ResumeMismatchError(UsageError):
    """``--resume`` with settings that differ from the stopped run, or results in the way of a fresh run (a
    ``ValueError``; the tools exit with status 2)."""


def _record_files(output_dir: Path) -> list[Path]:
    return sorted(output_dir.glob("records*.jsonl"))


def _read_lines(path: Path) -> list[dict]:
    """Records of one file; a truncated last line (crash mid-write) is dropped and the file repaired."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    records, bad_tail = [], False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1 and any(l.strip() for l in lines[i + 1:]):
                raise ValueError(f"{path}: line {i + 1} is not a JSON record (the file is corrupt)") from None
            bad_tail = True
    if bad_tail or (text and not text.endswith("\n")):
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))
    return records


def load_records(output_dir: str | os.PathLike) -> dict[int, dict]:
    """Every finished video's record in ``output_dir`` (all rank files), by dataset index."""
    done: dict[int, dict] = {}
    for path in _record_files(Path(output_dir)):
        for record in _read_lines(path):
            done[int(record["index"])] = record
    return done


def check_run_settings(output_dir: str | os.PathLike, settings: dict, resume: bool) -> None:
    """Write ``run.json`` for a fresh run, or check that a resumed run uses the same settings."""
    output_dir = Path(output_dir)
    run_file = output_dir / RUN_FILE
    if not resume:
        if run_file.exists() or _record_files(output_dir):
            raise ResumeMismatchError(f"{output_dir} already holds results of a run: pass --resume to continue "
                                      "it, or choose another --output")
    elif run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else f"byte {exc.start}"
            raise ResumeMismatchError(f"{run_file}: corrupt ({where}: {getattr(exc, 'msg', exc)}); delete the "
                                      "folder's results or choose another --output") from None
        changed = [f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in sorted(set(previous) | set(settings))
                   if previous.get(k) != settings.get(k)]
        if changed:
            raise ResumeMismatchError(f"--resume: {run_file} was written with other settings ("
                                      + "; ".join(changed) + "); use a new --output for a different run")
        return
    atomic_write_text(run_file, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def check_paths_match(done: dict[int, dict], samples) -> None:
    """The resumed dataset must list the same video at every index that already has a record."""
    for index, record in done.items():
        if index >= len(samples) or str(samples[index].path) != record["path"]:
            raise ResumeMismatchError(f"--resume: video #{index} was {record['path']} in the stopped run but the "
                                      "dataset lists it differently now (changed --data-path, --split or --limit?)")


class RecordLog:
    """Append-only JSON-lines log of one rank's finished videos."""

    def __init__(self, output_dir: str | os.PathLike, rank: int = 0):
        self.path = Path(output_dir) / f"records-{rank}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_regular_output(self.path)   # appended to, not replaced: a FIFO would block the run
        self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, record: dict) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def write_merged_records(output_dir: str | os.PathLike, records: Iterable[dict]) -> None:
    """Rewrite all records, sorted by index, as ``records.jsonl`` and drop the per-rank logs."""
    output_dir = Path(output_dir)
    ordered = sorted(records, key=lambda r: r["index"])
    atomic_write_text(output_dir / MERGED_RECORDS, "".join(json.dumps(r) + "\n" for r in ordered))
    for path in _record_files(output_dir):
        if path.name != MERGED_RECORDS:
            path.unlink(missing_ok=True)
