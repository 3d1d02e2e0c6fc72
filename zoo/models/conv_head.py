"""Caffe2's convolutional test head (VMZ ``--use_convolutional_pred=1``).

VMZ tests 224-trained CSNs on 256-pixel crops (and 112-trained models on 128-pixel crops). The final average
pool keeps the kernel it had in training -- the whole clip in time, and the spatial size of the training
crop's final map (7x7 for a 224 crop with pool1 or a 112 crop without) -- with stride 1, so a 256 crop's 8x8
map gives 2x2 positions. The classifier runs at every position as a 1x1x1 convolution (``r3d_model.py``).

Caffe2's ``Softmax`` operator (``loss_creator.py``: ``Softmax`` then ``ReduceBackMean`` over the last three
axes) flattens everything after the batch axis, so it normalises over classes *and* positions together;
the mean over positions then gives a vector summing to ``1 / P``. Its ranking -- and every video-level mean
over crops -- is that of ``q_c = sum_p exp(z_cp) / sum_c,p exp(z_cp)``. :func:`convolutional_logits` returns
``log(mean_p exp(z_cp))`` per class: its softmax over classes is exactly ``q`` (so the evaluator's usual
per-view softmax reproduces Caffe2), and with a single position it is the plain logit, identical to the
global head.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pool_kernel(feature_map: torch.Tensor, crop_size: int, train_crop_size: int) -> tuple[int, int, int]:
    """The ``(t, h, w)`` average-pool kernel: the whole clip in time, and spatially the final-map size of a
    ``train_crop_size`` input, for a ``feature_map`` computed from ``crop_size`` crops."""
    _, _, t, h, w = feature_map.shape
    if train_crop_size > crop_size:
        raise ValueError(f"convolutional testing needs a test crop ({crop_size}) at least as large as the "
                         f"training crop ({train_crop_size})")
    kh = max(1, round(h * train_crop_size / crop_size))
    kw = max(1, round(w * train_crop_size / crop_size))
    return t, min(kh, h), min(kw, w)


def position_logits(model: torch.nn.Module, feature_map: torch.Tensor, crop_size: int,
                    train_crop_size: int) -> torch.Tensor:
    """Class scores at every pooled position, ``(N, C, T'', H'', W'')``, from ``model.forward_map`` of
    ``crop_size`` crops: stride-1 average pool (:func:`pool_kernel`), then ``model.fc`` as a 1x1x1
    convolution (dropout is inactive at test time)."""
    pooled = F.avg_pool3d(feature_map, pool_kernel(feature_map, crop_size, train_crop_size), stride=1)
    weight = model.fc.weight
    return F.conv3d(pooled, weight.reshape(*weight.shape, 1, 1, 1), model.fc.bias)


def scores_from_positions(position_scores: torch.Tensor) -> torch.Tensor:
    """``(N, C, ...)`` per-position logits -> ``(N, C)`` log-mean-exp over the positions (see module doc)."""
    z = position_scores.flatten(2).float()
    return torch.logsumexp(z, dim=2) - math.log(z.shape[2])


def convolutional_logits(model: torch.nn.Module, x: torch.Tensor, train_crop_size: int) -> torch.Tensor:
    """Per-view ``(N, C)`` scores of input ``x`` ``(N, 3, T, H, W)`` whose softmax is Caffe2's convolutional
    prediction (see module doc). ``model`` needs ``forward_map`` (the VideoResNet families) and ``fc``."""
    if not hasattr(model, "forward_map"):
        raise ValueError(f"{type(model).__name__} has no convolutional test mode (VideoResNet families only)")
    return scores_from_positions(position_logits(model, model.forward_map(x), x.shape[-1], train_crop_size))


__all__ = ["pool_kernel", "position_logits", "scores_from_positions", "convolutional_logits"]
