"""Fixtures for the extraction tests: a small dataset of encoded videos and a tiny checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest

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
def checkpoint(make_tiny_checkpoint) -> Path:
    """R(2+1)D-10 at 1/8 width, 2 classes, 4-frame 32-pixel protocol."""
    return make_tiny_checkpoint(["c0", "c1"], SIZE)
