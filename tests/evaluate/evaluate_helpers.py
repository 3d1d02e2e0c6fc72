"""Shared objects for the evaluator tests: a model whose logits are a known function of the input, and a
writer of videos with known content. Imported by name (not from conftest, which spawned processes cannot see)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.data.encode import encode_video

#: grey level of each class for BrightnessModel (pixel values)
LEVELS = (40, 120, 200)
SIZE = 32
FRAMES = 16


def write_video(path: Path, levels: list[int], codec: str = "h264", fps: int = 30, size: int = SIZE) -> Path:
    """A video whose consecutive frame groups have the given constant grey levels (equal group lengths)."""
    per = FRAMES // len(levels)
    frames = np.concatenate([np.full((per, size, size, 3), lv, np.uint8) for lv in levels])
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_video(path, frames, fps=fps, codec=codec)
    return path


class BrightnessModel(nn.Module):
    """Logits = -(20 * (mean pixel in 0-1 - level_c))^2: a view is classified by its grey level.

    Used with mean 0 / std 1 normalisation, so the model sees pixel / 255."""

    def __init__(self):
        super().__init__()
        self.register_buffer("centers", torch.tensor(LEVELS, dtype=torch.float32) / 255)

    def forward_features(self, x):
        return x.mean(dim=(2, 3, 4))

    def forward(self, x):
        value = x.mean(dim=(1, 2, 3, 4))
        return -(20 * (value[:, None] - self.centers[None])) ** 2


