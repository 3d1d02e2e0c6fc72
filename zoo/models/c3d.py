"""C3D (VMZ ``c3d_model.py``): a VGG-style 3-D network with BN after every conv.

Module names follow the Caffe2 layer names (``conv1a``, ``conv1a_bn``, ..., ``fc6``, ``fc7``, ``fc``) so the
blob mapping is direct. The published geometry is 16x112x112; an adaptive pool to the 1x3x3 map that
``fc6`` expects lets other clip lengths (>= 16) and crop sizes run as well (identity at 16x112x112).
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.models.layers import bn3d, conv, linear

#: (name, in, out) for every conv, in order; the pool after each group is in _POOL_AFTER
_CONVS = (("conv1a", 3, 64), ("conv2a", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
          ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512))
_POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2), "conv4b": (2, 2, 2), "conv5b": (2, 2, 2)}


class C3D(nn.Module):
    """C3D with BatchNorm (eps 1e-3), biased convs, fc6/fc7 (4096) with ReLU and dropout, classifier ``fc``."""

    def __init__(self, num_classes: int = 400, channel_multiplier: float = 1.0, bn_eps: float = 1e-3,
                 dropout: float = 0.5):
        super().__init__()

        def w(c: int) -> int:
            return c if c == 3 else max(1, int(c * channel_multiplier))

        self._order: list[str] = []
        for name, cin, cout in _CONVS:
            setattr(self, name, conv(w(cin), w(cout), 3, padding=1, bias=True))
            setattr(self, f"{name}_bn", bn3d(w(cout), bn_eps))
            self._order.append(name)
        self.pool5_fit = nn.AdaptiveAvgPool3d((1, 3, 3))
        hidden = w(4096)
        self.fc6 = linear(w(512) * 9, hidden)
        self.fc7 = linear(hidden, hidden)
        self.fc = linear(hidden, num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.feature_dim = hidden
        self._init()

    def _init(self) -> None:
        # Caffe2 C3D: Gaussian std 0.01 for convs, 0.005 for the FCs; BN 1/0. Nothing to fill on meta.
        if self.fc.weight.is_meta:
            return
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.005)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """fc7 activations (the penultimate layer), shape ``(N, 4096 * channel_multiplier)``."""
        for name in self._order:
            x = self.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)))
            if name in _POOL_AFTER:
                k = _POOL_AFTER[name]
                x = nn.functional.max_pool3d(x, kernel_size=k, stride=k)
        x = torch.flatten(self.pool5_fit(x), 1)
        x = self.dropout(self.relu(self.fc6(x)))
        return self.dropout(self.relu(self.fc7(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def build_c3d(num_classes: int = 400, *, channel_multiplier: float = 1.0, bn_eps: float = 1e-3,
              dropout: float = 0.5) -> C3D:
    """Build C3D (input 3 x 16 x 112 x 112 as published)."""
    return C3D(num_classes, channel_multiplier, bn_eps, dropout)
