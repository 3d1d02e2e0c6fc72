"""A summary over cross-validation folds, as UCF101 and HMDB51 results are reported: the mean and the spread of
clip and video top-1 over the official splits, from the ``metrics.json`` of each fold's ``zoo-test`` run (or
``test_metrics.json`` of ``zoo-train --test-only``).

The spread is the sample standard deviation (``ddof=1``) over folds; minimum and maximum are given too.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

from zoo._io import atomic_write_text

#: metrics summarised when every fold has them (the first two are required)
METRICS = ("clip_top1", "video_top1", "video_top5")
REQUIRED = METRICS[:2]
SUMMARY_FILE = "folds_summary.json"


class FoldsError(ValueError):
    """A metrics file that cannot be summarised (the message names it)."""


def read_fold_metrics(path: str | os.PathLike) -> dict:
    """The headline numbers and provenance of one fold's metrics file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such metrics file")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FoldsError(f"{path}: not a JSON metrics file ({exc})") from None
    if not isinstance(metrics, dict):
        raise FoldsError(f"{path}: not a metrics file (expected a JSON object)")
    for key in REQUIRED:
        value = metrics.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise FoldsError(f"{path}: {key!r} is {value!r}, not an accuracy between 0 and 1 (a zoo-test "
                             "metrics.json of a labelled split is needed)")
    settings = metrics.get("settings") or {}
    return {"path": str(path), "data_path": settings.get("data_path"), "split": settings.get("split"),
            "checkpoint": settings.get("checkpoint"), "num_videos": metrics.get("num_videos"),
            **{key: metrics.get(key) for key in METRICS}}


def _stats(values: list[float]) -> dict:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "values": values}


def summarize_folds(paths: Sequence[str | os.PathLike]) -> dict:
    """Mean, sample standard deviation, min and max of each metric over the folds' metrics files."""
    if len(paths) < 2:
        raise ValueError(f"a summary over folds needs at least two metrics files, got {len(paths)}")
    folds = [read_fold_metrics(p) for p in paths]
    seen: dict[tuple, str] = {}
    for fold in folds:
        key = (str(Path(fold["path"]).resolve()),) if fold["split"] is None else (fold["data_path"], fold["split"])
        if key in seen:
            raise FoldsError(f"{fold['path']} and {seen[key]} evaluate the same fold"
                             + (f" ({fold['split']} of {fold['data_path']})" if fold["split"] else ""))
        seen[key] = fold["path"]
    summary = {"num_folds": len(folds), "std": "sample standard deviation over folds (ddof=1)", "folds": folds}
    for key in METRICS:
        values = [f[key] for f in folds]
        if all(isinstance(v, (int, float)) for v in values):
            summary[key] = _stats([float(v) for v in values])
    data_paths = sorted({str(f["data_path"]) for f in folds})
    summary["warnings"] = ([f"the folds come from different datasets: {', '.join(data_paths)}"]
                           if len(data_paths) > 1 else [])
    return summary


def format_summary(summary: dict) -> list[str]:
    """The lines of a plain-text table: one row per fold, then mean +- std (percentages)."""
    keys = [k for k in METRICS if k in summary]
    header = f"{'fold':<40}" + "".join(f"{k.replace('_', ' ') + ' %':>15}" for k in keys)
    lines = [header, "-" * len(header)]
    folders = [os.path.dirname(os.path.abspath(f["path"])) for f in summary["folds"]]
    common = os.path.commonpath(folders)
    for fold, folder in zip(summary["folds"], folders):
        run = os.path.relpath(folder, common) if len(set(folders)) > 1 else Path(folder).name
        name = " ".join(filter(None, (run, fold["split"]))) or fold["path"]
        lines.append(f"{name[:39]:<40}" + "".join(f"{100 * fold[k]:>15.2f}" for k in keys))
    lines.append("-" * len(header))
    label = f"mean +- std over {summary['num_folds']} folds"
    lines.append(f"{label:<40}" + "".join(f"{100 * summary[k]['mean']:>8.2f} +-{100 * summary[k]['std']:>5.2f}"
                                          for k in keys))
    lines += [f"warning: {w}" for w in summary["warnings"]]
    return lines


def write_summary(path: str | os.PathLike, summary: dict) -> Path:
    """The summary as JSON (atomic)."""
    path = Path(path)
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
    return path
