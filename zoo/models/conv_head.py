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
from torch import nn


def has_convolutional_head(arch: str) -> bool:
    """Whether models built as ``arch`` (``ir_csn_152``, ``c3d``, ...) have the convolutional test head (the
    residual families: they expose ``forward_map``)."""
    from zoo.models.registry import model_family
    from zoo.models.resnet import FAMILIES

    return model_family(arch) in FAMILIES


def pool_kernel(feature_map: torch.Tensor, input_hw: tuple[int, int], train_crop_size: int) -> tuple[int, int, int]:
    """The ``(t, h, w)`` average-pool kernel: the whole clip in time, and spatially the final-map size of a
    ``train_crop_size`` input, for a ``feature_map`` computed from inputs of ``input_hw`` pixels."""
    _, _, t, h, w = feature_map.shape
    if train_crop_size > min(input_hw):
        raise ValueError(f"convolutional testing needs a test crop ({input_hw[0]}x{input_hw[1]}) at least as "
                         f"large as the training crop ({train_crop_size})")
    kh = max(1, round(h * train_crop_size / input_hw[0]))
    kw = max(1, round(w * train_crop_size / input_hw[1]))
    return t, min(kh, h), min(kw, w)


def position_logits(fc: nn.Linear, feature_map: torch.Tensor, input_hw: tuple[int, int],
                    train_crop_size: int) -> torch.Tensor:
    """Class scores at every pooled position, ``(N, C, T'', H'', W'')``, from a model's ``forward_map`` of
    inputs of ``input_hw`` pixels: stride-1 average pool (:func:`pool_kernel`), then the classifier ``fc`` as a
    1x1x1 convolution (dropout is inactive at test time)."""
    pooled = F.avg_pool3d(feature_map, pool_kernel(feature_map, input_hw, train_crop_size), stride=1)
    return F.conv3d(pooled, fc.weight.reshape(*fc.weight.shape, 1, 1, 1), fc.bias)


def scores_from_positions(position_scores: torch.Tensor) -> torch.Tensor:
    """``(N, C, ...)`` per-position logits -> ``(N, C)`` log-mean-exp over the positions (see module doc)."""
    z = position_scores.flatten(2).float()
    return torch.logsumexp(z, dim=2) - math.log(z.shape[2])


def convolutional_logits(model: torch.nn.Module, x: torch.Tensor, train_crop_size: int) -> torch.Tensor:
    """Per-view ``(N, C)`` scores of input ``x`` ``(N, 3, T, H, W)`` whose softmax is Caffe2's convolutional
    prediction (see module doc). ``model`` needs ``forward_map`` (the VideoResNet families) and ``fc``."""
    if not hasattr(model, "forward_map"):
        raise ValueError(f"{type(model).__name__} has no convolutional test mode (VideoResNet families only)")
    return scores_from_positions(position_logits(model.fc, model.forward_map(x), tuple(x.shape[-2:]),
                                                 train_crop_size))


class ConvolutionalHead(nn.Module):
    """A model's classifier ``fc`` applied at every pooled position of its final map (:func:`position_logits`),
    reduced to per-view scores (:func:`scores_from_positions`)."""

    def __init__(self, fc: nn.Linear, train_crop_size: int):
        super().__init__()
        self.linear = fc
        self.train_crop_size = int(train_crop_size)

    def forward(self, feature_map: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
        return scores_from_positions(position_logits(self.linear, feature_map, input_hw, self.train_crop_size))


class ConvolutionalClassifier(nn.Module):
    """``model`` tested with the convolutional head: ``forward`` -> per-view scores (:func:`convolutional_logits`),
    ``forward_features`` -> the global pool5 features as before. ``avgpool`` and ``fc`` (the head) run as modules,
    in that order, so layer taps (``pool5``, ``logits``) see both."""

    def __init__(self, model: nn.Module, train_crop_size: int):
        super().__init__()
        if not hasattr(model, "forward_map"):
            raise ValueError(f"{type(model).__name__} has no convolutional test mode (residual families only)")
        self.avgpool = model.avgpool
        self.fc = ConvolutionalHead(model.fc, train_crop_size)
        self.model = model

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pool5 features (N, D), per-view scores (N, C))`` from one pass through the trunk."""
        fmap = self.model.forward_map(x)
        return torch.flatten(self.avgpool(fmap), 1), self.fc(fmap, tuple(x.shape[-2:]))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.model.forward_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def with_test_head(model: nn.Module, train_crop_size: int | None) -> nn.Module:
    """``model`` as its test protocol runs it: in a :class:`ConvolutionalClassifier` when ``train_crop_size``
    (the crop it was trained on) is given, else ``model`` itself (the global pool)."""
    return model if train_crop_size is None else ConvolutionalClassifier(model, train_crop_size)


__all__ = ["has_convolutional_head", "with_test_head", "pool_kernel", "position_logits", "scores_from_positions", "convolutional_logits",
           "ConvolutionalHead", "ConvolutionalClassifier"]
