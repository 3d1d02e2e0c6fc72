"""zoo.data.index: parallel metadata index, cache reuse and invalidation; zoo-prepare index --check."""
from __future__ import annotations

import os
from fractions import Fraction

import pytest

import zoo.data.index as index_mod
from prepare_videos import cfr_times, make_source
from zoo.data.errors import VideoError
from zoo.data.index import build_index, find_problems, load_or_build_index
from zoo.data.prepare.cli import main
from zoo.data.probe import VideoInfo


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    for split, name, n, fps in [("train", "a", 30, 25), ("train", "b", 20, 30), ("val", "a", 6, 25)]:
        (root / split / name).mkdir(parents=True, exist_ok=True)
        make_source(root / split / name / f"v{n}.mp4", cfr_times(n, Fraction(fps)), 32, 24, fps=fps)
    (root / "val" / "a" / "broken.mp4").write_bytes(b"this is not a video " * 40)
    return root


@pytest.fixture
def probes(monkeypatch):
    """Count the videos actually probed (workers=1 keeps probing in this process)."""
    seen = []
    real = index_mod.probe_entry

    def counting(path, decode=False):
        seen.append(os.path.basename(path))
        return real(path, decode)

    monkeypatch.setattr(index_mod, "probe_entry", counting)
    return seen


def test_build_index_parallel(dataset):
    paths = sorted(str(p) for p in dataset.rglob("*.mp4"))
    result = build_index(paths, workers=2)
    assert list(result) == paths
    infos = {os.path.basename(p): e for p, e in result.items()}
    assert isinstance(infos["broken.mp4"], VideoError) and infos["broken.mp4"].reason == "undecodable"
    v30 = infos["v30.mp4"]
    assert isinstance(v30, VideoInfo)
    assert (v30.num_frames, v30.width, v30.height, round(v30.fps)) == (30, 32, 24, 25)
    assert abs(v30.duration - 1.2) < 1e-6 and len(v30.frame_times) == 30


def test_cache_reuse_and_invalidation(dataset, tmp_path, probes):
    cache = tmp_path / "cache"
    everything = sorted(str(p) for p in dataset.rglob("*.mp4"))
    first = load_or_build_index(everything, cache_dir=cache, workers=1)
    assert sorted(probes) == ["broken.mp4", "v20.mp4", "v30.mp4", "v6.mp4"]
    probes.clear()
    # a subset (one split, as the trainer asks) finds what the whole-dataset build cached
    train = [p for p in everything if "/train/" in p]
    again = load_or_build_index(train, cache_dir=cache, workers=1)
    assert probes == []
    assert {p: e.to_dict() for p, e in again.items()} == {p: first[p].to_dict() for p in train}
    # a changed file (size/mtime) is probed again, alone; other options use another cache
    target = next(p for p in train if p.endswith("v20.mp4"))
    make_source(dataset / "train" / "b" / "v20.mp4", cfr_times(12, Fraction(30)), 32, 24, fps=30)
    os.utime(target, ns=(1, 1))
    changed = load_or_build_index(train, cache_dir=cache, workers=1)
    assert probes == ["v20.mp4"] and changed[target].num_frames == 12
    probes.clear()
    load_or_build_index(train, cache_dir=cache, workers=1, options={"frame_rate": 15})
    assert sorted(probes) == ["v20.mp4", "v30.mp4"]
    # errors are cached too, and come back as VideoError
    probes.clear()
    broken = [p for p in everything if p.endswith("broken.mp4")]
    assert isinstance(load_or_build_index(broken, cache_dir=cache, workers=1)[broken[0]], VideoError)
    assert probes == []


def test_corrupt_cache_is_rebuilt(dataset, tmp_path, probes):
    cache = tmp_path / "cache"
    paths = [str(p) for p in (dataset / "train" / "a").glob("*.mp4")]
    load_or_build_index(paths, cache_dir=cache, workers=1)
    for f in cache.glob("*.json"):
        f.write_text("{ not json")
    probes.clear()
    assert load_or_build_index(paths, cache_dir=cache, workers=1)[paths[0]].num_frames == 30
    assert probes == ["v30.mp4"]


def test_index_cli_check(dataset, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    assert main(["index", str(dataset), "--cache-dir", cache, "--workers", "1", "--quiet"]) == 0
    assert "indexed 4 video(s): 2 accepted (0 with warnings), 2 refused" in capsys.readouterr().out
    report = tmp_path / "problems.csv"
    assert main(["index", str(dataset), "--cache-dir", cache, "--workers", "1", "--quiet", "--check",
                 "--decode", "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "undecodable" in out and "broken.mp4" in out
    assert "too_short" in out and "v6.mp4" in out  # 6 frames < --min-frames 16
    assert len(report.read_text().splitlines()) == 3
    assert main(["index", str(dataset), "--split", "train", "--cache-dir", cache, "--workers", "1", "--quiet",
                 "--check"]) == 0
    problems = find_problems({"x": VideoInfo("x", 25.0, 10, 0.4, 8, 8, None)}, min_frames=8)
    assert problems == []
