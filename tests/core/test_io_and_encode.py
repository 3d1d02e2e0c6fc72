"""Atomic writes and the PyAV encoder shared by the data pipeline, prepare and tests."""
from __future__ import annotations

import os
import stat
from fractions import Fraction

import av
import numpy as np
import pytest

from zoo._io import atomic_path, atomic_write_text
from zoo.data.encode import encode_video


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("codec,suffix", [("h264", ".mp4"), ("mpeg4", ".mp4"), ("mpeg4", ".avi")])
def test_encode_constant_rate(tmp_path, codec, suffix):
    frames = np.stack([np.full((48, 64, 3), 12 * i, np.uint8) for i in range(12)])
    path = encode_video(tmp_path / f"v{suffix}", frames, fps=25, codec=codec)
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert container.streams.video[0].average_rate == 25
    assert len(decoded) == 12
    means = [d.mean() for d in decoded]
    assert np.allclose(means, frames.reshape(12, -1).mean(1), atol=3)


@pytest.mark.parametrize("codec", ["h264", "mpeg4"])
def test_encode_variable_frame_rate(tmp_path, codec):
    pts = [0, 1500, 4500, 6000, 12000]     # in 1/30000 s: 0, .05, .15, .2, .4
    frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(5)]
    path = encode_video(tmp_path / "vfr.mkv", frames, fps=30, codec=codec, pts=pts, time_base=Fraction(1, 30000))
    with av.open(str(path)) as container:
        times = [round(f.time, 3) for f in container.decode(video=0)]
    assert times == [0.0, 0.05, 0.15, 0.2, 0.4]
    encode_video(tmp_path / "default_tb.mkv", frames, fps=30, codec=codec, pts=[p * 2 for p in pts])


def test_encode_rejects_empty_input(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        encode_video(tmp_path / "empty.mp4", [])
    assert not list(tmp_path.iterdir())
