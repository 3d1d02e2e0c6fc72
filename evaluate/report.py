"""Outputs of a run: ``metrics.json``, per-video scores (``scores.npz`` / ``scores.safetensors``), the stdout
summary table and the confusion-matrix PNG. Every file is written atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from zoo._io import atomic_path, atomic_write_text

SCORE_FORMATS = ("npz", "safetensors")


def write_metrics(output_dir: str | os.PathLike, metrics: dict) -> Path:
    """``DIR/metrics.json`` (atomic)."""
    path = Path(output_dir) / "metrics.json"
    atomic_write_text(path, json.dumps(metrics, indent=2) + "\n")
    return path


def write_scores(output_dir: str | os.PathLike, videos: Sequence[dict], classes: Sequence[str],
                 fmt: str = "npz") -> Path:
    """Video-level scores for ensembling: ``scores`` ``(N, C)`` float32, ``labels``, ``indices`` (position
    of the video's first sample in the dataset) plus ``video_ids``, ``paths`` and ``classes``.

    ``videos`` are dicts with ``video_id``, ``path``, ``label``, ``index`` and ``scores``."""
    import numpy as np

    if fmt not in SCORE_FORMATS:
        raise ValueError(f"unknown scores format {fmt!r}; choose one of {SCORE_FORMATS}")
    scores = np.asarray([v["scores"] for v in videos], dtype=np.float32).reshape(len(videos), len(classes))
    labels = np.asarray([v["label"] for v in videos], dtype=np.int64)
    indices = np.asarray([v["index"] for v in videos], dtype=np.int64)
    paths = [v["path"] for v in videos]
    video_ids = [v["video_id"] for v in videos]
    path = Path(output_dir) / f"scores.{fmt}"
    with atomic_path(path) as tmp:
        if fmt == "npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, scores=scores, labels=labels, indices=indices, paths=np.asarray(paths, dtype=str),
                         video_ids=np.asarray(video_ids, dtype=str), classes=np.asarray(list(classes), dtype=str))
        else:
            from safetensors.numpy import save_file

            save_file({"scores": scores, "labels": labels, "indices": indices}, str(tmp),
                      metadata={"paths": json.dumps(paths), "video_ids": json.dumps(video_ids),
                                "classes": json.dumps(list(classes))})
    return path


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:6.2f}"


def summary_table(metrics: dict) -> list[str]:
    """The lines of a plain-text table of the headline numbers (percentages)."""
    rows = [("videos evaluated", str(metrics["num_videos"])),
            ("videos without a label (-1)", str(metrics.get("num_unlabelled", 0))),
            ("videos skipped (refused)", str(len(metrics.get("skipped", [])))),
            ("videos with warnings", str(metrics.get("num_with_warnings", 0))),
            ("videos padded (shorter than a clip)", str(metrics.get("num_padded", 0))),
            ("videos scored wrong (shorter than a clip)", str(metrics.get("num_scored_wrong", 0))),
            ("views (clips x crops)", str(metrics["num_clips"])),
            ("clip top-1 %", _pct(metrics["clip_top1"])),
            ("clip top-5 %", _pct(metrics["clip_top5"])),
            ("video top-1 %", _pct(metrics["video_top1"])),
            ("video top-5 %", _pct(metrics["video_top5"])),
            ("mean class accuracy %", _pct(metrics["mean_class_accuracy"]))]
    width = max(len(name) for name, _ in rows)
    rule = "-" * (width + 12)
    return [rule] + [f"{name:<{width}}  {value:>8}" for name, value in rows] + [rule]


def plot_confusion(path: str | os.PathLike, confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> Path:
    """Confusion matrix (rows = true class, normalised per row) as a PNG."""
    from zoo.report.images import confusion_figure

    path = Path(path)
    with atomic_path(path) as tmp:
        confusion_figure(confusion, classes).savefig(tmp, format="png", dpi=100)
    return path
