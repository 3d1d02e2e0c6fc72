"""Fixtures for the extraction tests: a small dataset of encoded videos and a tiny checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from extract_helpers import SIZE, write_cfr


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """ROOT/val/{c0,c1}/v*.mp4: four 16-30-frame videos (two frame rates)."""
    root = tmp_path_factory.mktemp("extract") / "data"
    write_cfr(root / "val/c0/a.mp4", 16, 30, seed=1)
    write_cfr(root / "val/c0/b.mp4", 24, 25, seed=2)
    write_cfr(root / "val/c1/c.mp4", 30, 30, seed=3)
    write_cfr(root / "val/c1/d.mp4", 20, 30, seed=4)
    return root


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """R(2+1)D-10 at 1/8 width, 2 classes, 4-frame 32-pixel protocol."""
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    zoo.save_checkpoint(model, path, classes=["c0", "c1"], clip_len=4, sampling_rate=1, resize=SIZE,
                        crop_size=SIZE, mean=[0.45] * 3, std=[0.225] * 3)
    return path
