"""The synthetic action dataset: real videos, same per-frame statistics in every class, different motion."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from zoo.data.datasets import discover
from zoo.data.decode import decode_frames
from zoo.data.probe import probe_video
from zoo.data.synthetic import MOTIONS, SPEEDS, generate, main


def estimate_motion(a: np.ndarray, b: np.ndarray, radius: int = max(SPEEDS) + 1) -> tuple[int, int]:
    """The (dy, dx) that best maps frame ``a`` onto frame ``b`` (b[y + dy, x + dx] == a[y, x])."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    h, w = a.shape[:2]
    best, arg = np.inf, (0, 0)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            src = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
            dst = b[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
            err = np.abs(src - dst).mean()
            if err < best:
                best, arg = err, (dy, dx)
    return arg


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("synthetic"), classes=4, videos_per_class=3, val_videos_per_class=2,
                    seed=5)


def test_layout_and_videos(dataset):
    train, classes = discover(dataset, "train")
    val, val_classes = discover(dataset, "val")
    assert classes == val_classes == sorted(["still", "up", "down", "sideways"])
    assert (dataset / "classes.txt").read_text().split("\n")[:-1] == classes
    assert len(train) == 12 and len(val) == 8
    infos = [probe_video(s.path) for s in train + val]
    assert len({(i.width, i.height) for i in infos}) > 1 and len({i.fps for i in infos}) > 1
    assert len({i.num_frames for i in infos}) > 1
    assert {s.path.suffix for s in train} >= {".mp4", ".mkv", ".avi"}


def test_same_frame_statistics_different_motion(dataset):
    samples, classes = discover(dataset, "train")
    stats = {c: [] for c in classes}
    motions = {c: set() for c in classes}
    for s in samples:
        info = probe_video(s.path)
        frames = decode_frames(s.path, range(info.num_frames), info)
        name = classes[s.label]
        stats[name] += [(f.mean(), f.std()) for f in frames]
        for t in (0, info.num_frames // 2):
            dy, dx = estimate_motion(frames[t], frames[t + 1])
            speed = max(abs(dy), abs(dx))
            motions[name].add((int(np.sign(dy)), int(np.sign(dx))))
            assert speed in ((0,) if name == "still" else SPEEDS)
    # per-frame statistics: every class looks alike frame by frame
    means = {c: np.mean(v, axis=0) for c, v in stats.items()}
    for c in classes:
        assert abs(means[c][0] - 128) < 12 and abs(means[c][1] - 55) < 12, (c, means[c])
    # motion: each class moves only in its own directions
    for c in classes:
        assert motions[c] <= set(MOTIONS[c]), (c, motions[c])
    assert len(set().union(*motions.values())) >= 4


def decoded(path) -> tuple[np.ndarray, list[float] | None]:
    """Every frame of ``path`` and its timestamp: what a reader sees, independent of container bytes."""
    info = probe_video(path)
    return np.stack(decode_frames(path, range(info.num_frames), info)), info.frame_times


def assert_same_video(a, b):
    """Same frames, pixel for pixel, at the same times (container bytes may differ: Matroska writes a random
    segment id)."""
    (frames_a, times_a), (frames_b, times_b) = decoded(a), decoded(b)
    assert times_a == times_b, (a, b)
    assert frames_a.shape == frames_b.shape, (a, b)
    differ = [i for i in range(len(frames_a)) if not np.array_equal(frames_a[i], frames_b[i])]
    assert not differ, f"{b}: frames {differ} differ from {a}'s"


def test_deterministic_and_resumable(tmp_path, dataset, x264_options):
    """A seed gives the same pictures in another process: libx264 runs without its macroblock-tree rate
    control, which in PyAV's build reads uninitialised memory (with it, 7 to 13 of the demo dataset's 72 videos
    changed over 5 generations)."""
    subprocess.run([sys.executable, "-m", "zoo.data.synthetic", str(tmp_path / "again"), "--classes", "4",
                    "--videos-per-class", "3", "--val-videos-per-class", "2", "--seed", "5", "-q"], check=True)
    out = tmp_path / "again"
    first = sorted(p.relative_to(dataset) for p in dataset.rglob("*.*"))
    assert first == sorted(p.relative_to(out) for p in out.rglob("*.*"))
    videos = sorted(p for p in out.rglob("*") if p.suffix in (".mp4", ".mkv", ".avi"))
    assert len(videos) == 20
    for video in videos:
        assert_same_video(dataset / video.relative_to(out), video)
    h264 = [v for v in videos if b"x264 - core" in v.read_bytes()]
    assert len(h264) == 10 and all(x264_options(v)["mbtree"] == "0" for v in h264)
    video = next(iter(sorted((out / "train").rglob("*.mp4"))))
    video.unlink()
    generate(out, classes=4, videos_per_class=3, val_videos_per_class=2, seed=5)  # resumes
    assert video.exists()
    assert_same_video(dataset / video.relative_to(out), video)
    with pytest.raises(ValueError, match="other settings"):
        generate(out, classes=4, videos_per_class=3, seed=6)


def test_command_line(tmp_path, capsys):
    assert main([str(tmp_path / "cli"), "--classes", "2", "--videos-per-class", "2"]) == 0
    samples, classes = discover(tmp_path / "cli", "val")
    assert classes == ["still", "up"] and len(samples) == 4
