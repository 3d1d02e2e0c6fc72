"""Aggregation of per-view model outputs into one video-level score vector.

``mean_softmax`` is VMZ's default (mean of the per-view softmax, ``test_net.py --aggregation 0``),
``max_softmax`` is VMZ's ``--aggregation 1`` (element-wise max of the per-view softmax), ``sum_softmax`` is
the torchvision reference / PySlowFast ensemble (sum of the per-view softmax; same ranking as the mean) and
``mean_logits`` is the VMZ PyTorch port (mean of the raw FC outputs). The names are those of ``weights.json``
(:data:`zoo.weights.AGGREGATIONS`); the earlier spellings ``softmax_mean``, ``sum``, ``max`` and
``logit_mean`` are accepted too.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from zoo.weights import AGGREGATIONS, canonical_aggregation


def aggregate_views(logits: torch.Tensor, method: str = "mean_softmax") -> torch.Tensor:
    """Reduce ``(V, C)`` per-view logits to one ``(C,)`` float32 video score vector."""
    method = canonical_aggregation(method)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"expected (views, classes) logits with at least one view, got {tuple(logits.shape)}")
    logits = logits.float()
    if method == "mean_logits":
        return logits.mean(dim=0)
    probs = torch.softmax(logits, dim=1)
    if method == "mean_softmax":
        return probs.mean(dim=0)
    if method == "sum_softmax":
        return probs.sum(dim=0)
    return probs.max(dim=0).values


def combine_aggregates(scores: Sequence[Sequence[float]], views: Sequence[int], method: str) -> np.ndarray:
    """The aggregate over the union of several view sets, from each set's own aggregate and view count.

    Used when several samples belong to one ``video_id`` (dense VMZ list files): mean-type aggregates are
    averaged weighted by view count, ``sum_softmax`` adds up and ``max_softmax`` takes the maximum.
    """
    method = canonical_aggregation(method)
    stacked = np.asarray(scores, dtype=np.float64)
    if method == "sum_softmax":
        return stacked.sum(axis=0)
    if method == "max_softmax":
        return stacked.max(axis=0)
    weights = np.asarray(views, dtype=np.float64)
    return (stacked * weights[:, None]).sum(axis=0) / weights.sum()


__all__ = ["AGGREGATIONS", "aggregate_views", "combine_aggregates"]
