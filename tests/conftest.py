"""Fixtures shared by the test folders: tiny real checkpoints (R(2+1)D-10 at 1/8 width) made on demand, and the
options libx264 recorded in a video it wrote."""
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


@pytest.fixture(scope="session")
def x264_options() -> Callable[[Path], dict[str, str]]:
    """``read(path)``: the options libx264 wrote into the stream of ``path`` (its SEI text ``x264 - core ...
    options: key=value ...``), e.g. ``{"mbtree": "0", "crf": "18.0", ...}``."""
    def read(path: Path) -> dict[str, str]:
        data = Path(path).read_bytes()
        start = data.index(b"x264 - core")
        text = data[start:data.index(b"\0", start)].decode("ascii")
        return dict(item.split("=", 1) for item in text.split(" options: ", 1)[1].split() if "=" in item)

    return read
