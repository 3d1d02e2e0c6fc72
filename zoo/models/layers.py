"""Convolution units used inside VMZ residual blocks.

Each function returns the module that replaces one 3x3x3 convolution of a block, laid out so that
state-dict keys follow torchvision's ``VideoResNet`` (``conv1.0.0``, ``conv2.0.3``, ...) and the VMZ
PyTorch ports (``architectures.md`` §13-14). None of the convolutions has a bias (Caffe2 ``no_bias``).
"""
from __future__ import annotations

from torch import nn

Stride = tuple[int, int, int]


def bn3d(channels: int, eps: float) -> nn.BatchNorm3d:
    """BatchNorm with Caffe2 semantics: eps as given (VMZ: 1e-3), momentum 0.1 (= Caffe2's 0.9)."""
    return nn.BatchNorm3d(channels, eps=eps, momentum=0.1)


def vmz_midplanes(in_planes: int, out_planes: int) -> int:
    """Middle width of a VMZ (2+1)D conv: floor(27*in*out / (9*in + 3*out)), evaluated per conv."""
    return (27 * in_planes * out_planes) // (9 * in_planes + 3 * out_planes)


def conv3d(in_planes: int, out_planes: int, stride: Stride) -> nn.Conv3d:
    """Full 3x3x3 convolution (R3D, C3D-style)."""
    return nn.Conv3d(in_planes, out_planes, (3, 3, 3), stride=stride, padding=(1, 1, 1), bias=False)


def conv2d_as_3d(in_planes: int, out_planes: int, stride: Stride) -> nn.Conv3d:
    """Spatial-only 1x3x3 convolution (the "2-D" stages of mcX/rmcX/r2d); never strides in time."""
    return nn.Conv3d(in_planes, out_planes, (1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1),
                     bias=False)


def conv2plus1d(in_planes: int, out_planes: int, stride: Stride, midplanes: int, bn_eps: float) -> nn.Sequential:
    """(2+1)D convolution: [0] 1x3x3 spatial conv, [1] BN, [2] ReLU, [3] 3x1x1 temporal conv."""
    return nn.Sequential(
        nn.Conv3d(in_planes, midplanes, (1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1), bias=False),
        bn3d(midplanes, bn_eps),
        nn.ReLU(inplace=True),
        nn.Conv3d(midplanes, out_planes, (3, 1, 1), stride=(stride[0], 1, 1), padding=(1, 0, 0), bias=False),
    )


def depthwise3d(planes: int, stride: Stride) -> nn.Conv3d:
    """Channel-wise 3x3x3 convolution (groups = channels); the whole ir-CSN replacement of a 3x3x3 conv."""
    return nn.Conv3d(planes, planes, (3, 3, 3), stride=stride, padding=(1, 1, 1), groups=planes, bias=False)


def ip_csn_conv(in_planes: int, out_planes: int, stride: Stride, bn_eps: float) -> nn.Sequential:
    """ip-CSN unit: [0] 1x1x1 conv, [1] BN (no ReLU), [2] depthwise 3x3x3 carrying the stride."""
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, (1, 1, 1), bias=False),
        bn3d(out_planes, bn_eps),
        depthwise3d(out_planes, stride),
    )


def pointwise(in_planes: int, out_planes: int, stride: Stride = (1, 1, 1)) -> nn.Conv3d:
    """1x1x1 convolution (bottleneck reduce/expand and projection shortcuts)."""
    return nn.Conv3d(in_planes, out_planes, (1, 1, 1), stride=stride, bias=False)
