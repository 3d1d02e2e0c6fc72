"""zoo-prepare trim: exact frame rate, size, frame count and time span; resume; failure report."""
from __future__ import annotations

import csv
import math
import os
from fractions import Fraction
from pathlib import Path

import pytest

from prepare_videos import (cfr_times, decode_output, expected_codes, make_source, make_source_with_audio)
from zoo.data.prepare.cli import main
from zoo.data.prepare.kinetics import Segment, check_class_count, read_annotations
from zoo.data.prepare.segment import SegmentError, output_size, transcode_segment
from zoo.data.prepare.trim import TrimOptions, trim_segments

SHORT = 32


def _vfr_times() -> list[Fraction]:
    steps = [Fraction(1, 50), Fraction(1, 20), Fraction(1, 30), Fraction(1, 10)]
    times, t = [], Fraction(0)
    while t < 3:
        times.append(t)
        t += steps[len(times) % len(steps)]
    return times


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """Raw videos named by "YouTube id" (codecs, rates incl. 29.97 and variable, portrait/landscape)."""
    root = tmp_path_factory.mktemp("raw")
    (root / "nested").mkdir()
    times = {
        "land25": make_source(root / "land25.mp4", cfr_times(100, Fraction(25)), 64, 48),
        "port2997": make_source(root / "nested" / "port2997.mkv", cfr_times(110, Fraction(30000, 1001)), 48, 64,
                                codec="mpeg4", fps=Fraction(30000, 1001)),
        "vfr": make_source(root / "vfr.mkv", _vfr_times(), 64, 48),
        "short": make_source(root / "short.mp4", cfr_times(38, Fraction(25)), 64, 48),
    }
    (root / "broken.webm").write_bytes(os.urandom(3000))
    return root, times


def _write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
        writer.writerows([*row, 0] for row in rows)
    return path


ROWS = [
    ("walk", "land25", 1, 3, "train"),
    ("walk", "port2997", 0, 2, "val"),
    ("run", "vfr", 1, 2, "train"),
    ("run", "short", 0, 10, "train"),       # video ends after 1.52 s: truncated
    ("run", "short", 1, 11, "train"),       # 0.52 s left: too short
    ("run", "short", 2, 12, "train"),       # starts after the end
    ("jump", "gone", 0, 10, "train"),       # no such source
    ("jump", "broken", 0, 10, "train"),     # not a video
]


def _check_clip(path: Path, source_times, start, seconds, fps=30):
    rate, w, h, codes, _, _ = decode_output(path)
    assert rate == Fraction(fps).limit_denominator(1001)
    assert min(w, h) == SHORT and w % 2 == 0 and h % 2 == 0
    count = math.ceil(Fraction(seconds) * Fraction(fps).limit_denominator(1001))
    assert codes == expected_codes(source_times, start, fps, count)
    return w, h


def test_trim_cli_outputs_report_and_resume(raw, tmp_path, capsys):
    root, times = raw
    ann = _write_csv(tmp_path / "kinetics.csv", ROWS)
    out = tmp_path / "out"
    argv = ["trim", str(ann), str(root), str(out), "--short-side", str(SHORT), "--workers", "1", "--quiet"]
    assert main(argv) == 0

    w, h = _check_clip(out / "train/walk/land25_000001_000003.mp4", times["land25"], 1, 2)
    assert (w, h) == (42, 32)  # 64x48 -> short side 32, 4:3 kept, even
    w, h = _check_clip(out / "val/walk/port2997_000000_000002.mp4", times["port2997"], 0, 2)
    assert (w, h) == (32, 42)  # portrait
    _check_clip(out / "train/run/vfr_000001_000002.mp4", times["vfr"], 1, 1)
    # truncated: the 38-frame 25 fps video ends at 1.52 s -> frames k with k/30 < 1.52
    rate, _, _, codes, _, _ = decode_output(out / "train/run/short_000000_000010.mp4")
    assert codes == expected_codes(times["short"], 0, 30, 46)

    with open(out / "trim_report.csv", newline="") as fh:
        report = {(r["youtube_id"], r["time_start"]): (r["status"], r["reason"]) for r in csv.DictReader(fh)}
    assert report == {("short", "0.0"): ("truncated", "video_ends_early"),
                      ("short", "1.0"): ("failed", "too_short"),
                      ("short", "2.0"): ("failed", "outside_video"),
                      ("gone", "0.0"): ("failed", "missing_source"),
                      ("broken", "0.0"): ("failed", "undecodable")}
    for name in ("short_000001_000011.mp4", "short_000002_000012.mp4"):
        assert not (out / "train/run" / name).exists()
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left behind
    assert "failed 4" in capsys.readouterr().out

    # resume: finished clips are skipped (untouched), failed rows are tried and reported again
    done = sorted(p for p in out.rglob("*.mp4"))
    stamps = {p: p.stat().st_mtime_ns for p in done}
    assert main(argv) == 0
    assert "skipped 4 already done, failed 4" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in done} == stamps


def test_trim_parallel_and_stale_temp(raw, tmp_path):
    root, times = raw
    out = tmp_path / "out"
    segments = [Segment("land25", 0, 1, "train", "walk", 2), Segment("vfr", 0, 2, "train", "run", 3)]
    stale = segments[0].output_path(out).parent / f".{segments[0].output_path(out).name}.k1ll3d00.mp4"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a video")
    os.utime(stale, (0, 0))   # left by a run killed long ago (a live run's temporaries are never removed)
    summary = trim_segments(segments, root, out, TrimOptions(short_side=SHORT), workers=2, progress=False)
    assert (summary.done, summary.failed) == (2, 0)
    assert not stale.exists()
    _check_clip(segments[0].output_path(out), times["land25"], 0, 1)
    _check_clip(segments[1].output_path(out), times["vfr"], 0, 2)


def test_resample_down_and_exact_fractional_rate(raw, tmp_path):
    root, times = raw
    result = transcode_segment(root / "land25.mp4", tmp_path / "a.mp4", 0.5, 2.5, fps=15, short_side=SHORT)
    assert result.num_frames == 30
    _check_clip(tmp_path / "a.mp4", times["land25"], 0.5, 2, fps=15)
    result = transcode_segment(root / "land25.mp4", tmp_path / "b.mp4", 0, 1, TrimOptions(fps=29.97, short_side=SHORT))
    _check_clip(tmp_path / "b.mp4", times["land25"], 0, 1, fps=29.97)
    assert result.num_frames == 30  # ceil(1 s * 29.97)
    with pytest.raises(TypeError, match="unexpected keyword argument 'short'"):
        transcode_segment(root / "land25.mp4", tmp_path / "c.mp4", 0, 1, short=SHORT)
    with pytest.raises(TypeError, match="options must be a TrimOptions"):
        transcode_segment(root / "land25.mp4", tmp_path / "c.mp4", 0, 1, 25)      # fps was the 5th argument


def test_audio_dropped_unless_kept(tmp_path):
    src = tmp_path / "tone.mp4"
    make_source_with_audio(src, seconds=3)
    transcode_segment(src, tmp_path / "mute.mp4", 1, 2, short_side=SHORT)
    assert decode_output(tmp_path / "mute.mp4")[4] is False
    transcode_segment(src, tmp_path / "loud.mp4", 1, 2, short_side=SHORT, keep_audio=True)
    _, _, _, codes, has_audio, audio_seconds = decode_output(tmp_path / "loud.mp4")
    assert has_audio and abs(audio_seconds - 1.0) < 0.15
    assert codes == expected_codes(cfr_times(75, Fraction(25)), 1, 30, 30)


def test_segment_errors_and_helpers(raw, tmp_path):
    root, _ = raw
    with pytest.raises(SegmentError) as err:
        transcode_segment(root / "land25.mp4", tmp_path / "x.mp4", 3, 2)
    assert err.value.reason == "invalid_segment"
    assert output_size(640, 360, 320) == (568, 320)
    assert output_size(360, 640, 320) == (320, 568)
    assert output_size(100, 100, 321) == (322, 322)
    assert check_class_count(["a", "b"], "400") == ["label set has 2 classes but Kinetics-400 has 400 (missing: 398)"]
    assert check_class_count([f"c{i}" for i in range(600)], 600) == []
    bad = tmp_path / "bad.csv"
    bad.write_text("label,youtube_id,time_start\nx,y,1\n")
    with pytest.raises(ValueError, match="bad.csv.*time_end"):
        read_annotations(bad)
    bad.write_text("label,youtube_id,time_start,time_end,split\nx,y,one,2,train\n")
    with pytest.raises(ValueError, match=r"bad.csv:2"):
        read_annotations(bad)


def test_kinetics_version_warning(raw, tmp_path, capsys):
    root, _ = raw
    ann = _write_csv(tmp_path / "k.csv", [("walk", "land25", 0, 1, "train"), ("run", "land25", 1, 2, "val")])
    assert main(["trim", str(ann), str(root), str(tmp_path / "o"), "--short-side", str(SHORT), "--workers", "1",
                 "--quiet", "--kinetics-version", "700"]) == 0
    err = capsys.readouterr().err
    assert "2 classes but Kinetics-700 has 700" in err
    assert "split 'train' lacks 1 class(es): ['run']" in err


def test_trims_keep_libx264s_own_rate_control(raw, tmp_path, x264_options):
    """``--crf`` means what ffmpeg's ``-crf`` does: the macroblock tree stays on for trims (the synthetic data turns
    it off to be bit-repeatable, at about twice the size)."""
    root, _ = raw
    transcode_segment(root / "land25.mp4", tmp_path / "a.mp4", 0, 2, fps=25, short_side=SHORT)
    options = x264_options(tmp_path / "a.mp4")
    assert options["mbtree"] == "1" and options["crf"] == "18.0", options
    assert x264_options(root / "land25.mp4")["mbtree"] == "0"   # the source: written by encode_video, repeatable
