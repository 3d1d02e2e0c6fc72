"""Residual blocks (basic and bottleneck) with a pluggable 3x3x3-replacement unit.

The attribute names and Sequential indices match torchvision's ``BasicBlock``/``Bottleneck`` so that
torchvision state dicts load with ``strict=True``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from zoo.models.layers import Stride, bn3d, pointwise

#: builds the unit replacing one 3x3x3 conv: (in_planes, out_planes, stride, block_in, block_inner) -> module.
#: ``block_in``/``block_inner`` are the block's input and inner widths (torchvision's per-block midplanes need them).
ConvUnit = Callable[[int, int, Stride, int, int], nn.Module]


def _projection(in_planes: int, out_planes: int, stride: Stride, bn_eps: float) -> nn.Sequential:
    return nn.Sequential(pointwise(in_planes, out_planes, stride), bn3d(out_planes, bn_eps))


def _needs_projection(in_planes: int, out_planes: int, stride: Stride) -> bool:
    return in_planes != out_planes or any(s != 1 for s in stride)


class BasicBlock(nn.Module):
    """Two 3x3x3-type convs: conv1 = [unit, BN, ReLU], conv2 = [unit, BN]; shortcut; ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: Stride, unit: ConvUnit, bn_eps: float):
        super().__init__()
        self.conv1 = nn.Sequential(unit(in_planes, planes, stride, in_planes, planes), bn3d(planes, bn_eps),
                                   nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(unit(planes, planes, (1, 1, 1), in_planes, planes), bn3d(planes, bn_eps))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (_projection(in_planes, planes, stride, bn_eps)
                           if _needs_projection(in_planes, planes, stride) else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


class Bottleneck(nn.Module):
    """1x1x1 reduce -> 3x3x3-type unit (carries the stride) -> 1x1x1 expand; shortcut; ReLU."""

    def __init__(self, in_planes: int, inner: int, out_planes: int, stride: Stride, unit: ConvUnit, bn_eps: float):
        super().__init__()
        self.conv1 = nn.Sequential(pointwise(in_planes, inner), bn3d(inner, bn_eps), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(unit(inner, inner, stride, in_planes, inner), bn3d(inner, bn_eps),
                                   nn.ReLU(inplace=True))
        self.conv3 = nn.Sequential(pointwise(inner, out_planes), bn3d(out_planes, bn_eps))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (_projection(in_planes, out_planes, stride, bn_eps)
                           if _needs_projection(in_planes, out_planes, stride) else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + residual)
