"""Fixtures for the evaluator tests: tiny encoded videos with known content and tiny checkpoints."""
from __future__ import annotations

from pathlib import Path

import pytest

from evaluate_helpers import LEVELS, SIZE, write_video


@pytest.fixture(scope="session")
def known_dataset(tmp_path_factory) -> Path:
    """ROOT/val/{c0,c1,c2}: 5 videos whose predicted class per clip is known (see test_metrics_known)."""
    root = tmp_path_factory.mktemp("known") / "data"
    a, b, c = LEVELS
    write_video(root / "val/c0/v0.mp4", [a])                      # 4/4 clips c0 -> video c0 (right)
    write_video(root / "val/c0/v1.mp4", [a, a, a, b], "mpeg4")    # 3 clips c0, 1 clip c1 -> c0 (right)
    write_video(root / "val/c1/v2.mp4", [b], fps=25)              # c1 (right)
    write_video(root / "val/c1/v3.mp4", [c])                      # c2 (wrong)
    write_video(root / "val/c2/v4.mp4", [b, b, b, c])             # 3 clips c1, 1 clip c2 -> c1 (wrong)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(make_tiny_checkpoint) -> Path:
    """A real zoo checkpoint: R(2+1)D-10 at 1/8 width, 3 classes, 4-frame 32 px protocol."""
    return make_tiny_checkpoint(["c0", "c1", "c2"], SIZE)


@pytest.fixture(scope="session")
def bad_dataset(tmp_path_factory, known_dataset) -> Path:
    """The known dataset plus a zero-byte, a truncated and a non-video file."""
    import shutil

    root = tmp_path_factory.mktemp("bad") / "data"
    shutil.copytree(known_dataset, root)
    (root / "val/c0/empty.mp4").write_bytes(b"")
    good = (root / "val/c1/v2.mp4").read_bytes()
    (root / "val/c1/truncated.mp4").write_bytes(good[: len(good) // 3])
    (root / "val/c2/text.mp4").write_bytes(b"this is not a video\n" * 50)
    return root
