"""The worst-scored videos of a run and the views the model received for them.

A video's score here is the share of its true class in its aggregated score vector (the scores normalised to
sum to one; the softmax of them for ``mean_logits``): the lower, the worse. Ties go to the earlier video.

The views are not kept during the run (that would cost memory and time for every video): at the end the few
worst videos are decoded again by the evaluator's own dataset with the run's view spec, which is
deterministic, so they are the tensors the model received (the report's tests check it against the model's
input).
"""
from __future__ import annotations

import heapq
from typing import Sequence

import numpy as np

from zoo.evaluate.runner import group_videos


def class_shares(scores: Sequence[float], aggregate: str) -> np.ndarray:
    """A video's aggregated scores as shares summing to one (a softmax first for ``mean_logits``)."""
    scores = np.asarray(scores, dtype=np.float64)
    if aggregate == "mean_logits":
        scores = np.exp(scores - scores.max())
    total = scores.sum()
    return scores / total if total > 0 else np.full_like(scores, 1.0 / max(len(scores), 1))


def worst_videos(records: Sequence[dict], aggregate: str, count: int) -> list[dict]:
    """The ``count`` labelled videos whose true class got the smallest share, worst first.

    Each is a :func:`~zoo.evaluate.runner.group_videos` entry plus ``true_share``, ``members`` (the records
    of the video: one, or several rows of a dense list file) and ``warnings`` (theirs, in order)."""
    labelled = [r for r in records if r["status"] == "ok" and r["label"] >= 0]
    videos = group_videos(labelled, aggregate)
    shares = [(float(class_shares(v["scores"], aggregate)[v["label"]]), v["index"], i) for i, v in enumerate(videos)]
    chosen = heapq.nsmallest(count, shares)
    members: dict[str, list[dict]] = {}
    for record in sorted(labelled, key=lambda r: r["index"]):
        members.setdefault(record.get("video_id") or record["path"], []).append(record)
    out = []
    for share, _, i in chosen:
        video = dict(videos[i], true_share=share, members=members[videos[i]["video_id"]])
        video["warnings"] = [w for m in video["members"] for w in m.get("warnings", [])]
        out.append(video)
    return out


def received_views(samples: Sequence, spec, indices: Sequence[int]) -> np.ndarray:
    """uint8 ``(V, T, H, W, 3)``: the views of the samples at ``indices`` (one video, clip-major), decoded
    by the evaluator's dataset exactly as during the run."""
    from zoo.evaluate.views_dataset import VideoViewsDataset

    dataset = VideoViewsDataset(samples, spec, list(indices))
    parts = []
    for i in range(len(dataset)):
        item = dataset[i]
        if item.views is None:
            raise ValueError(f"{item.path}: could not be decoded again for the report ({item.error})")
        parts.append(item.views.numpy())
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
