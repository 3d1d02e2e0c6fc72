"""Aggregation of per-view model outputs into one video-level score vector.

``softmax_mean`` is VMZ's default (mean of the per-view softmax, ``test_net.py --aggregation 0``),
``max`` is VMZ's ``--aggregation 1`` (element-wise max of the per-view softmax), ``sum`` is the
torchvision reference / PySlowFast ensemble (sum of the per-view softmax; same ranking as the mean) and
``logit_mean`` is the VMZ PyTorch port (mean of the raw FC outputs).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

AGGREGATIONS = ("softmax_mean", "sum", "max", "logit_mean")


def aggregate_views(logits: torch.Tensor, method: str = "softmax_mean") -> torch.Tensor:
    """Reduce ``(V, C)`` per-view logits to one ``(C,)`` float32 video score vector."""
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(AGGREGATIONS)}")
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"expected (views, classes) logits with at least one view, got {tuple(logits.shape)}")
    logits = logits.float()
    if method == "logit_mean":
        return logits.mean(dim=0)
    probs = torch.softmax(logits, dim=1)
    if method == "softmax_mean":
        return probs.mean(dim=0)
    if method == "sum":
        return probs.sum(dim=0)
    return probs.max(dim=0).values


def combine_aggregates(scores: Sequence[Sequence[float]], views: Sequence[int], method: str) -> np.ndarray:
    """The aggregate over the union of several view sets, from each set's own aggregate and view count.

    Used when several samples belong to one ``video_id`` (dense VMZ list files): mean-type aggregates are
    averaged weighted by view count, ``sum`` adds up and ``max`` takes the maximum.
    """
    stacked = np.asarray(scores, dtype=np.float64)
    if method == "sum":
        return stacked.sum(axis=0)
    if method == "max":
        return stacked.max(axis=0)
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}")
    weights = np.asarray(views, dtype=np.float64)
    return (stacked * weights[:, None]).sum(axis=0) / weights.sum()
