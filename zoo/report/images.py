"""The pictures of the report pages, as PNG bytes: views strips, the confusion matrix and score timelines.

A views strip shows one frame of every view a model received (the middle frame of each clip), clips left to
right and crops top to bottom, separated by :data:`STRIP_GAP` white pixels. The pixels are the model's input
before normalisation (what the normalised tensor de-normalises to); frames larger than ``max_side`` are
shown at 1/``step`` resolution by keeping every ``step``-th pixel, so the page stays small at 256-pixel crops.
"""
from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np

#: white pixels between the frames of a views strip
STRIP_GAP = 2
#: frames larger than this (pixels, either side) are subsampled in a strip
STRIP_MAX_SIDE = 128


def png_bytes(rgb: np.ndarray) -> bytes:
    """Lossless PNG of a uint8 ``(H, W, 3)`` image."""
    from PIL import Image   # matplotlib's own image dependency

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(figure, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def strip_step(height: int, width: int, max_side: int = STRIP_MAX_SIDE) -> int:
    """Every how many pixels a ``height`` x ``width`` frame is sampled in a strip (1: all of them)."""
    return max(1, math.ceil(max(height, width) / max_side))


def middle_frames(views: np.ndarray, num_crops: int) -> np.ndarray:
    """``(clips, crops, H, W, 3)``: the middle frame of each view of uint8 ``(V, T, H, W, 3)`` views in
    clip-major order (view ``clip * num_crops + crop``, as the evaluator lays them out)."""
    views = np.asarray(views)
    if views.ndim != 5 or views.shape[-1] != 3 or views.shape[0] % num_crops:
        raise ValueError(f"expected (views, T, H, W, 3) with a multiple of {num_crops} views, got {views.shape}")
    frames = views[:, views.shape[1] // 2]
    return frames.reshape(views.shape[0] // num_crops, num_crops, *frames.shape[1:])


def views_strip(frames: np.ndarray, max_side: int = STRIP_MAX_SIDE) -> tuple[np.ndarray, int]:
    """The strip image of ``(clips, crops, H, W, 3)`` frames and the sampling step it used."""
    frames = np.asarray(frames, dtype=np.uint8)
    clips, crops, height, width, _ = frames.shape
    step = strip_step(height, width, max_side)
    frames = frames[:, :, ::step, ::step]
    h, w = frames.shape[2:4]
    image = np.full((crops * h + (crops - 1) * STRIP_GAP, clips * w + (clips - 1) * STRIP_GAP, 3), 255, np.uint8)
    for clip in range(clips):
        for crop in range(crops):
            y, x = crop * (h + STRIP_GAP), clip * (w + STRIP_GAP)
            image[y:y + h, x:x + w] = frames[clip, crop]
    return image, step


def confusion_figure(confusion: Sequence[Sequence[int]], classes: Sequence[str], max_inches: float = 40.0):
    """Confusion matrix (rows = true class, normalised per row) as a matplotlib figure; class names as tick
    labels up to 60 classes."""
    from matplotlib.figure import Figure

    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    size = min(4 + 0.25 * n, max_inches)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    shown = ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues", interpolation="nearest")
    fig.colorbar(shown, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= 60:
        ax.set_xticks(range(n), labels=list(classes), rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels=list(classes), fontsize=7)
    fig.tight_layout()
    return fig


def timeline_figure(start: Sequence[float], end: Sequence[float], scores: np.ndarray, classes: Sequence[str],
                    top: int = 5):
    """Scores of the ``top`` classes (highest mean over the windows) against time, one step per window."""
    from matplotlib.figure import Figure

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] != len(start) or len(start) != len(end):
        raise ValueError(f"expected (windows, classes) scores for {len(start)} windows, got {scores.shape}")
    order = np.argsort(-scores.mean(axis=0), kind="stable")[:top]
    fig = Figure(figsize=(10, 3.6))
    ax = fig.add_subplot()
    mids = (np.asarray(start, dtype=np.float64) + np.asarray(end, dtype=np.float64)) / 2
    for c in order:
        ax.plot(mids, scores[:, c], marker="o", markersize=3, label=str(classes[c]))
    ax.set_xlabel("time (s, window centres)")
    ax.set_ylabel("score")
    ax.set_ylim(bottom=min(0.0, float(scores[:, order].min())))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
