"""Aggregation of per-view model outputs into one video-level score vector.

``mean_softmax`` is VMZ's default (mean of the per-view softmax, ``test_net.py --aggregation 0``),
``max_softmax`` is VMZ's ``--aggregation 1`` (element-wise max of the per-view softmax), ``sum_softmax`` is
the torchvision reference / PySlowFast ensemble (sum of the per-view softmax; same ranking as the mean) and
``mean_logits`` is the VMZ PyTorch port (mean of the raw FC outputs). The names are those of ``weights.json``
(:data:`AGGREGATIONS`); the earlier spellings ``softmax_mean``, ``sum``, ``max`` and
``logit_mean`` are accepted too. Importing the module is cheap (torch and numpy are imported by the functions
that compute), so the tools' options and the registry's records use the names.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np
    import torch

#: How per-view outputs become one video score (the names used by weights.json and ``--aggregate``):
#: mean / sum / element-wise max of the per-view softmax, or mean of the raw logits.
AGGREGATIONS = ("mean_softmax", "sum_softmax", "max_softmax", "mean_logits")

#: Earlier command-line spellings, still accepted.
AGGREGATION_ALIASES = {"softmax_mean": "mean_softmax", "sum": "sum_softmax", "max": "max_softmax",
                       "logit_mean": "mean_logits"}


def unalias_aggregation(name: str) -> str:
    """``name`` with an earlier spelling translated (unknown names are returned as they are)."""
    return AGGREGATION_ALIASES.get(name, name)


def canonical_aggregation(name: str) -> str:
    """The canonical aggregation name for ``name`` (an alias is translated); ValueError if unknown."""
    name = unalias_aggregation(name)
    if name not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {name!r}; choose one of {', '.join(AGGREGATIONS)}")
    return name


def aggregate_views(logits: torch.Tensor, method: str = "mean_softmax") -> torch.Tensor:
    """Reduce ``(V, C)`` per-view logits to one ``(C,)`` float32 video score vector."""
    import torch

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
    import numpy as np

    method = canonical_aggregation(method)
    stacked = np.asarray(scores, dtype=np.float64)
    if method == "sum_softmax":
        return stacked.sum(axis=0)
    if method == "max_softmax":
        return stacked.max(axis=0)
    weights = np.asarray(views, dtype=np.float64)
    return (stacked * weights[:, None]).sum(axis=0) / weights.sum()


__all__ = ["AGGREGATIONS", "AGGREGATION_ALIASES", "aggregate_views", "canonical_aggregation", "combine_aggregates",
           "unalias_aggregation"]
