"""Fixtures shared by the test folders: tiny real checkpoints (R(2+1)D-10 at 1/8 width) made on demand."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pytest
import torch

import zoo


@pytest.fixture(scope="session")
def make_tiny_checkpoint(tmp_path_factory) -> Callable[..., Path]:
    """``make(classes, size)``: a zoo checkpoint of R(2+1)D-10 at 1/8 width (seed 0) with one output per class
    name and a 4-frame protocol at ``size`` pixels (resize = crop), normalised with ``mean``/``std``."""
    def make(classes: Sequence[str], size: int, mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225)) -> Path:
        torch.manual_seed(0)
        model = zoo.create_model("r2plus1d_10", num_classes=len(classes), channel_multiplier=0.125)
        path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
        zoo.save_checkpoint(model, path, classes=list(classes), clip_len=4, sampling_rate=1, resize=size,
                            crop_size=size, mean=list(mean), std=list(std))
        return path

    return make
