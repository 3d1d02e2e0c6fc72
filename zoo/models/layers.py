"""Convolution units used inside VMZ residual blocks, and the constructors of every parameterised layer.

Each unit function returns the module that replaces one 3x3x3 convolution of a block, laid out so that
state-dict keys follow torchvision's ``VideoResNet`` (``conv1.0.0``, ``conv2.0.3``, ...) and the VMZ
PyTorch ports (``docs/architectures.md`` "torchvision ports" and "Caffe2 blob names and module names").
None of the convolutions has a bias (Caffe2 ``no_bias``).

Builders create convolutions, BatchNorms and linear layers only through :func:`conv`, :func:`bn3d` and
:func:`linear`, so that inside :func:`shapes_only` every model comes out on the ``meta`` device without
running any initialiser (see :func:`zoo.models.build_meta_model`).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Iterator, TypeVar

from torch import nn

Stride = tuple[int, int, int]
M = TypeVar("M", bound=nn.Module)

_SHAPES_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("zoo_shapes_only", default=False)


@contextlib.contextmanager
def shapes_only() -> Iterator[None]:
    """Within the block (this thread or task only), layers are built on ``meta`` and left uninitialised."""
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)


def _no_init(self: nn.Module) -> None:
    """A shape-only layer has no values to initialise."""


@functools.cache
def _uninitialised(cls: type[M]) -> type[M]:
    # torch layers fill their tensors in __init__ (reset_parameters); on meta that is slow work for nothing
    hooks = {name: _no_init for name in ("reset_parameters", "reset_running_stats") if hasattr(cls, name)}
    return type(cls.__name__, (cls,), {**hooks, "__module__": cls.__module__, "__qualname__": cls.__qualname__})


def _new(cls: type[M], *args, **kwargs) -> M:
    if _SHAPES_ONLY.get():
        return _uninitialised(cls)(*args, device="meta", **kwargs)
    return cls(*args, **kwargs)


def conv(in_planes: int, out_planes: int, kernel, stride=1, padding=0, groups: int = 1,
         bias: bool = False) -> nn.Conv3d:
    """A ``Conv3d`` (no bias unless asked: Caffe2 ``no_bias``)."""
    return _new(nn.Conv3d, in_planes, out_planes, kernel, stride=stride, padding=padding, groups=groups, bias=bias)


def linear(in_features: int, out_features: int) -> nn.Linear:
    """A ``Linear`` layer with bias (the classifier and C3D's fc6/fc7)."""
    return _new(nn.Linear, in_features, out_features)


def bn3d(channels: int, eps: float) -> nn.BatchNorm3d:
    """BatchNorm with Caffe2 semantics: eps as given (VMZ: 1e-3), momentum 0.1 (= Caffe2's 0.9)."""
    return _new(nn.BatchNorm3d, channels, eps=eps, momentum=0.1)


def vmz_midplanes(in_planes: int, out_planes: int) -> int:
    """Middle width of a VMZ (2+1)D conv: floor(27*in*out / (9*in + 3*out)), evaluated per conv."""
    return (27 * in_planes * out_planes) // (9 * in_planes + 3 * out_planes)


def conv3d(in_planes: int, out_planes: int, stride: Stride) -> nn.Conv3d:
    """Full 3x3x3 convolution (R3D, C3D-style)."""
    return conv(in_planes, out_planes, (3, 3, 3), stride=stride, padding=(1, 1, 1))


def conv2d_as_3d(in_planes: int, out_planes: int, stride: Stride) -> nn.Conv3d:
    """Spatial-only 1x3x3 convolution (the "2-D" stages of mcX/rmcX/r2d); never strides in time."""
    return conv(in_planes, out_planes, (1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1))


def conv2plus1d(in_planes: int, out_planes: int, stride: Stride, midplanes: int, bn_eps: float) -> nn.Sequential:
    """(2+1)D convolution: [0] 1x3x3 spatial conv, [1] BN, [2] ReLU, [3] 3x1x1 temporal conv."""
    return nn.Sequential(
        conv(in_planes, midplanes, (1, 3, 3), stride=(1, stride[1], stride[2]), padding=(0, 1, 1)),
        bn3d(midplanes, bn_eps),
        nn.ReLU(inplace=True),
        conv(midplanes, out_planes, (3, 1, 1), stride=(stride[0], 1, 1), padding=(1, 0, 0)),
    )


def depthwise3d(planes: int, stride: Stride) -> nn.Conv3d:
    """Channel-wise 3x3x3 convolution (groups = channels); the whole ir-CSN replacement of a 3x3x3 conv."""
    return conv(planes, planes, (3, 3, 3), stride=stride, padding=(1, 1, 1), groups=planes)


def ip_csn_conv(in_planes: int, out_planes: int, stride: Stride, bn_eps: float) -> nn.Sequential:
    """ip-CSN unit: [0] 1x1x1 conv, [1] BN (no ReLU), [2] depthwise 3x3x3 carrying the stride."""
    return nn.Sequential(
        conv(in_planes, out_planes, (1, 1, 1)),
        bn3d(out_planes, bn_eps),
        depthwise3d(out_planes, stride),
    )


def pointwise(in_planes: int, out_planes: int, stride: Stride = (1, 1, 1)) -> nn.Conv3d:
    """1x1x1 convolution (bottleneck reduce/expand and projection shortcuts)."""
    return conv(in_planes, out_planes, (1, 1, 1), stride=stride)
