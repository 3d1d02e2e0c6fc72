"""The VMZ residual video networks: R3D, R(2+1)D, ir-CSN, ip-CSN, mcX, rmcX, r2d, r2df.

One builder, :func:`build_video_resnet`, covers every family; a family is a :class:`FamilySpec` saying
which unit replaces a 3x3x3 convolution, which stages are 3-D, and what the stem looks like. Structure,
widths and strides follow VMZ's Caffe2 ``r3d_model.py``/``video_model.py`` (see
``docs/architectures.md``, "Depths, blocks and widths" to "mcX, rmcX, r2d, r2df"); module names follow
torchvision's ``VideoResNet``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.models import layers
from zoo.models.blocks import BasicBlock, Bottleneck, ConvUnit
from zoo.models.layers import Stride, bn3d

#: blocks per stage (conv2_x..conv5_x) for each VMZ depth
BLOCK_CONFIG = {10: (1, 1, 1, 1), 16: (2, 2, 2, 1), 18: (2, 2, 2, 2), 26: (2, 2, 2, 2),
                34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
#: (block output width, bottleneck inner width) per stage
SHALLOW_WIDTHS = ((64, 64), (128, 128), (256, 256), (512, 512))
DEEP_WIDTHS = ((256, 64), (512, 128), (1024, 256), (2048, 512))
DEPTHS = tuple(BLOCK_CONFIG)
BOTTLENECK_DEPTHS = (26, 50, 101, 152)


def uses_bottleneck(depth: int) -> bool:
    """VMZ rule: basic blocks for depth <= 18 and 34, bottlenecks otherwise (26 keeps shallow widths)."""
    return not (depth <= 18 or depth == 34)


@dataclass(frozen=True)
class FamilySpec:
    """What distinguishes one residual family from another."""

    unit: str                      # '3d' | '2.5d' | 'ir' | 'ip': the replacement of a 3x3x3 conv in 3-D stages
    stages_3d: tuple[bool, ...]    # per stage conv2_x..conv5_x: 3-D (True) or 2-D 1x3x3 (False)
    stem: str = "3d"               # '3d' (kT x 7 x 7 conv) or '2.5d' (1x7x7 -> 45 ch -> kT x 1 x 1)
    stem_kernel_t: int | None = None   # fixed stem temporal kernel (None: conv1_temporal_kernel option)
    depths: tuple[int, ...] = DEPTHS
    collapse_time: bool = False    # r2d: stem kernel spans the whole clip, temporal padding 0


ALL_3D = (True, True, True, True)
FAMILIES: dict[str, FamilySpec] = {
    "r3d": FamilySpec("3d", ALL_3D),
    "r2plus1d": FamilySpec("2.5d", ALL_3D, stem="2.5d"),
    "ir_csn": FamilySpec("ir", ALL_3D, depths=BOTTLENECK_DEPTHS),
    "ip_csn": FamilySpec("ip", ALL_3D, depths=BOTTLENECK_DEPTHS),
    # mcX: 3-D convolutions up to group x-1, 2-D from group x on; rmcX the reverse
    # (docs/architectures.md "mcX, rmcX, r2d, r2df")
    **{f"mc{x}": FamilySpec("3d", tuple(i < x - 2 for i in range(4)), depths=(18,)) for x in (2, 3, 4, 5)},
    **{f"rmc{x}": FamilySpec("3d", tuple(i >= x - 2 for i in range(4)), stem_kernel_t=1, depths=(18,))
       for x in (2, 3, 4, 5)},
    "r2d": FamilySpec("3d", (False,) * 4, collapse_time=True, depths=(18,)),
    "r2df": FamilySpec("3d", (False,) * 4, stem_kernel_t=1, depths=(18,)),
}


class VideoResNet(nn.Module):
    """stem -> layer1..layer4 -> global average pool -> dropout -> fc (torchvision key layout)."""

    def __init__(self, stem: nn.Sequential, stages: list[nn.Sequential], feature_dim: int, num_classes: int,
                 dropout: float = 0.0):
        super().__init__()
        self.stem = stem
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = layers.linear(feature_dim, num_classes)
        self.feature_dim = feature_dim

    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map before pooling, shape ``(N, feature_dim, T', H', W')``."""
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate (pool5) features, shape ``(N, feature_dim)``."""
        return torch.flatten(self.avgpool(self.forward_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.forward_features(x)))


def _unit_for(spec: FamilySpec, is_3d: bool, midplanes: str, bn_eps: float) -> ConvUnit:
    """The callable building one 3x3x3-replacement for a stage of ``spec``."""
    if not is_3d:
        return lambda i, o, s, bi, bn: layers.conv2d_as_3d(i, o, s)
    if spec.unit == "3d":
        return lambda i, o, s, bi, bn: layers.conv3d(i, o, s)
    if spec.unit == "2.5d":
        if midplanes == "vmz":   # per conv, from that conv's own widths (Caffe2)
            return lambda i, o, s, bi, bn: layers.conv2plus1d(i, o, s, layers.vmz_midplanes(i, o), bn_eps)
        # torchvision: once per block, from the block's input width and inner width
        return lambda i, o, s, bi, bn: layers.conv2plus1d(i, o, s, layers.vmz_midplanes(bi, bn), bn_eps)
    if spec.unit == "ir":
        def ir(i, o, s, bi, bn):
            if i != o:
                raise ValueError("ir-CSN needs equal input and output widths in its depthwise conv")
            return layers.depthwise3d(o, s)
        return ir
    if spec.unit == "ip":
        return lambda i, o, s, bi, bn: layers.ip_csn_conv(i, o, s, bn_eps)
    raise ValueError(f"unknown unit {spec.unit!r}")


def _stem(spec: FamilySpec, width: int, mid_width: int, kernel_t: int, stride_t: int, use_pool1: bool,
          bn_eps: float, in_channels: int = 3) -> nn.Sequential:
    pad_t = 0 if spec.collapse_time else kernel_t // 2
    if spec.stem == "2.5d":
        mods: list[nn.Module] = [
            layers.conv(in_channels, mid_width, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3)),
            bn3d(mid_width, bn_eps), nn.ReLU(inplace=True),
            layers.conv(mid_width, width, (kernel_t, 1, 1), stride=(stride_t, 1, 1), padding=(pad_t, 0, 0)),
            bn3d(width, bn_eps), nn.ReLU(inplace=True)]
    else:
        mods = [layers.conv(in_channels, width, (kernel_t, 7, 7), stride=(stride_t, 2, 2), padding=(pad_t, 3, 3)),
                bn3d(width, bn_eps), nn.ReLU(inplace=True)]
    if use_pool1:
        mods.append(nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
    return nn.Sequential(*mods)


def stage_strides(spec: FamilySpec, clip_len: int | None) -> list[Stride]:
    """Stride of the first block of each stage, with VMZ's short-clip exceptions.

    Stages 2-4 halve space; 3-D stages also halve time, except conv4_x when the clip has fewer than 4
    frames and conv5_x when it has fewer than 8 (``create_r3d``).
    """
    strides: list[Stride] = [(1, 1, 1)]
    for i in (1, 2, 3):
        temporal = 2 if spec.stages_3d[i] else 1
        if clip_len is not None and ((i == 2 and clip_len < 4) or (i == 3 and clip_len < 8)):
            temporal = 1
        strides.append((temporal, 2, 2))
    return strides


def build_video_resnet(family: str, depth: int, num_classes: int = 400, *, channel_multiplier: float = 1.0,
                       bn_eps: float = 1e-3, midplanes: str = "vmz", use_pool1: bool = False,
                       conv1_temporal_kernel: int = 3, conv1_temporal_stride: int = 1, clip_len: int | None = None,
                       dropout: float = 0.0, in_channels: int = 3) -> VideoResNet:
    """Build a VMZ residual video network of ``family`` at ``depth``; see :data:`FAMILIES`.

    ``in_channels`` is 3 for RGB and 2 for the optical-flow models of the 2018 zoo.
    """
    spec = FAMILIES[family]
    if depth not in spec.depths:
        raise ValueError(f"{family} is defined at depths {', '.join(map(str, spec.depths))}, not {depth}")
    if midplanes not in ("vmz", "torchvision"):
        raise ValueError(f"midplanes must be 'vmz' or 'torchvision', not {midplanes!r}")
    if midplanes == "torchvision" and spec.unit != "2.5d":
        raise ValueError(f"midplanes='torchvision' applies to r2plus1d only, not {family}")
    if conv1_temporal_kernel not in (1, 3, 5, 7):
        raise ValueError(f"conv1_temporal_kernel must be an odd 1..7, not {conv1_temporal_kernel}")
    if channel_multiplier <= 0:
        raise ValueError(f"channel_multiplier must be positive, not {channel_multiplier}")

    def w(c: int) -> int:
        return max(1, int(c * channel_multiplier))

    if spec.collapse_time:
        kernel_t = clip_len if clip_len is not None else 8
    else:
        kernel_t = spec.stem_kernel_t if spec.stem_kernel_t is not None else conv1_temporal_kernel
    stem_width = w(64)
    stem = _stem(spec, stem_width, w(45), kernel_t, conv1_temporal_stride, use_pool1, bn_eps, in_channels)

    bottleneck = uses_bottleneck(depth)
    widths = DEEP_WIDTHS if depth > 34 else SHALLOW_WIDTHS
    stages = []
    in_planes = stem_width
    for i, (n_blocks, stride) in enumerate(zip(BLOCK_CONFIG[depth], stage_strides(spec, clip_len))):
        out_planes, inner = w(widths[i][0]), w(widths[i][1])
        unit = _unit_for(spec, spec.stages_3d[i], midplanes, bn_eps)
        blocks = []
        for b in range(n_blocks):
            s = stride if b == 0 else (1, 1, 1)
            if bottleneck:
                blocks.append(Bottleneck(in_planes, inner, out_planes, s, unit, bn_eps))
            else:
                blocks.append(BasicBlock(in_planes, out_planes, s, unit, bn_eps))
            in_planes = out_planes
        stages.append(nn.Sequential(*blocks))
    model = VideoResNet(stem, stages, in_planes, num_classes, dropout)
    init_weights(model)
    return model


def init_weights(model: nn.Module) -> None:
    """From-scratch initialisation: He (fan-out) convs, BN 1/0, FC N(0, 0.01) with zero bias.

    Skipped for models on the ``meta`` device (shape-only builds), where the random fills are slow no-ops.
    """
    if any(p.is_meta for p in model.parameters()):
        return
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


__all__ = ["FAMILIES", "FamilySpec", "VideoResNet", "build_video_resnet", "stage_strides", "uses_bottleneck",
           "BLOCK_CONFIG", "DEPTHS", "BOTTLENECK_DEPTHS", "init_weights"]
