"""Accuracy metrics: clip (per view) and video top-k, per-class and mean-class accuracy, confusion matrix."""
from __future__ import annotations

import numpy as np


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``(N,)``: whether ``labels[i]`` is among the ``k`` highest ``scores[i]`` (k capped at C)."""
    scores = np.asarray(scores)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} do not match")
    if scores.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    k = max(1, min(k, scores.shape[1]))
    # ties between equal scores go to the lower class index (stable sort)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (order == labels[:, None]).any(axis=1)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """``(C, C)`` int64 counts; row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def per_class_accuracy(cm: np.ndarray, unscored: np.ndarray | None = None) -> list[float | None]:
    """Top-1 accuracy of each true class from a confusion matrix (``None`` for classes with no videos);
    ``unscored[c]`` more videos of class ``c`` count as wrong."""
    totals = cm.sum(axis=1) + (0 if unscored is None else np.asarray(unscored))
    return [float(cm[c, c] / totals[c]) if totals[c] else None for c in range(cm.shape[0])]


def compute_metrics(video_scores: np.ndarray, labels: np.ndarray, clip_top1_hits: int, clip_top5_hits: int,
                    num_clips: int, classes: list[str], wrong_labels: np.ndarray | None = None) -> dict:
    """All accuracy numbers of a run.

    ``video_scores`` ``(N, C)`` are the aggregated scores of the N evaluated videos, ``labels`` their true
    classes; ``clip_*_hits`` / ``num_clips`` count the individual views (VMZ's "clip accuracy").
    ``wrong_labels`` are the true classes of videos without a score that count as wrong predictions (the
    ``wrong`` short-video rule): they are in every denominator and in no hit, nor in the confusion matrix.
    Accuracies are fractions in [0, 1].
    """
    num_classes = len(classes)
    video_scores = np.asarray(video_scores, dtype=np.float64).reshape(-1, num_classes)
    labels = np.asarray(labels, dtype=np.int64)
    wrong = np.asarray([] if wrong_labels is None else wrong_labels, dtype=np.int64)
    n = len(labels) + len(wrong)
    preds = video_scores.argmax(axis=1) if len(labels) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(labels, preds, num_classes)
    per_class = per_class_accuracy(cm, np.bincount(wrong, minlength=num_classes))
    present = [a for a in per_class if a is not None]
    return {
        "num_videos": int(n),
        "num_clips": int(num_clips),
        "clip_top1": clip_top1_hits / num_clips if num_clips else None,
        "clip_top5": clip_top5_hits / num_clips if num_clips else None,
        "video_top1": float(topk_hits(video_scores, labels, 1).sum() / n) if n else None,
        "video_top5": float(topk_hits(video_scores, labels, 5).sum() / n) if n else None,
        "mean_class_accuracy": float(np.mean(present)) if present else None,
        "per_class_accuracy": {name: acc for name, acc in zip(classes, per_class)},
        "confusion_matrix": cm.tolist(),
    }
