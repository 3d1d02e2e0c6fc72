"""Shared objects for the extraction tests (imported by name, so that spawned ranks can use them too)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from zoo.data.encode import encode_video

SIZE = 32
#: presentation times (s) of the variable-frame-rate test video: bursts of 25 fps with gaps
VFR_TIMES = (0.0, 0.04, 0.08, 0.12, 0.30, 0.34, 0.38, 0.60, 0.64, 0.68, 0.72, 1.0)


def moving_frames(n: int, seed: int, size: int = SIZE) -> np.ndarray:
    """``n`` frames of a random texture sliding sideways (every window sees different content)."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (size, size * 3, 3), dtype=np.uint8)
    return np.stack([np.roll(texture, -3 * t, axis=1)[:, :size] for t in range(n)])


def write_cfr(path: Path, n: int = 16, fps: int = 30, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return encode_video(path, moving_frames(n, seed), fps=fps)


def write_vfr(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return encode_video(path, moving_frames(len(VFR_TIMES), seed), fps=25, codec="h264",
                        pts=[round(t * 90000) for t in VFR_TIMES], time_base=Fraction(1, 90000))


def read_features(path: Path) -> dict[str, np.ndarray]:
    """Every array of a .safetensors feature file."""
    from safetensors.numpy import load_file

    return load_file(str(path))
