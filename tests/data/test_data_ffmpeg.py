"""probe_video / decode_frames / decode_views on videos made with the ffmpeg CLI, against the frames the ffmpeg
CLI presents: stream-copied trims (edit lists), display rotation, AVI dropped frames, damaged packets, VP9,
variable frame rate."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from zoo.data.decode import DecodeReport, decode_frames
from zoo.data.errors import VideoError, VideoWarning, collect_video_warnings, warning_kind
from zoo.data.index import build_index, find_problems, find_warnings
from zoo.data.prepare.cli import main as zoo_prepare
from zoo.data.probe import probe_video
from zoo.data.views import ViewSpec, decode_views

from ffmpeg_videos import HOLES, KINDS, damage, ffmpeg_frames, mean_abs_diff, packets, shown_at


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from ffmpeg_videos import make_real_world_videos

    return make_real_world_videos(tmp_path_factory.mktemp("real"))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_frames_are_what_ffmpeg_presents(real, name):
    path = real[name]
    reference, ref_times = ffmpeg_frames(path)
    info = probe_video(path)
    assert (info.height, info.width) == reference.shape[1:3]  # upright size, as ffmpeg shows it
    n = info.num_frames
    if name in HOLES:
        # ffmpeg presents only the pictures; we keep a frame at every time a player shows one
        assert n > len(reference)
        assert all(min(abs(t - u) for u in info.frame_times) < 1e-3 for t in ref_times)
    else:
        assert n == len(reference)
        np.testing.assert_allclose(info.frame_times, ref_times, atol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VideoWarning)
        # Concealed pictures depend on thread timing with frame-threaded decoding (PyAV's libavcodec: 2 runs in 8
        # differed under load, while ffmpeg 5.1's are stable), so the concealment clip is decoded single-threaded.
        threads = 1 if name == "concealed_slice" else 0
        frames = decode_frames(path, range(n), info, threads=threads)  # every frame
    if name == "concealed_slice":
        # How a damaged slice is concealed differs between libavcodec versions (ffmpeg 5.1 here, PyAV's newer one)
        # and with the bytes the flip hits, which vary with libx264's encode: a concealed picture may differ from
        # ffmpeg's in its damaged area (0.7 % of the values in one run), never by a shift (adjacent frames of this
        # clip are 4.3 levels apart or more), and every other picture is ffmpeg's exactly.
        diffs = [mean_abs_diff(frames[i], reference[i]) for i in range(n)]
        assert max(diffs) < 2.0, f"{name}: frame {int(np.argmax(diffs))} is not ffmpeg's: {max(diffs):.2f} levels"
        assert sum(d == 0 for d in diffs) >= 0.9 * n, f"{name}: {sum(d > 0 for d in diffs)} frames differ"
        return
    for i in range(n):
        expected = reference[shown_at(ref_times, info.frame_times[i])] if name in HOLES else reference[i]
        np.testing.assert_array_equal(frames[i], expected, err_msg=f"{name}: frame {i} differs from ffmpeg's")


def test_stream_copied_trim_is_accepted_without_warning(real):
    """``-ss 1.3 -t 3 -c copy`` keeps the packets from the previous keyframe: the header counts them all."""
    info = probe_video(real["trim_copy"])
    declared = len(packets(real["trim_copy"]))
    assert info.num_frames < declared and info.warnings == []
    assert info.duration == pytest.approx(3.0, abs=0.2)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_is_applied_and_reported(real, degrees):
    source, rotated = probe_video(real["source"]), probe_video(real[f"rotate{degrees}"])
    assert rotated.rotation in (90, 180, 270) and (rotated.rotation == 180) == (degrees == 180)
    swap = degrees != 180
    assert (rotated.width, rotated.height) == ((source.height, source.width) if swap else
                                               (source.width, source.height))
    assert [warning_kind(w) for w in rotated.warnings] == ["rotated"]
    # every decoding path returns upright frames: resized views of the rotated video are the rotated views
    spec = ViewSpec(clip_len=4, sampling_rate=2, num_clips=3, num_crops=1, resize=(60, 40) if swap else (40, 60),
                    crop_size=None)
    views = decode_views(real[f"rotate{degrees}"], spec).numpy()
    straight = decode_views(real["source"], ViewSpec(**{**spec.__dict__, "resize": (40, 60)})).numpy()
    turned = np.rot90(straight, rotated.rotation // 90, axes=(2, 3))
    np.testing.assert_array_equal(views, turned)


def test_dropped_avi_frames_repeat_the_previous_one(real):
    info = probe_video(real["dropped_avi"])
    assert info.num_frames == 120 and len(info.repeated) == 32  # 4 s at 30 fps, 32 frames dropped at capture
    assert np.allclose(np.diff(info.frame_times), 1 / 30)
    assert [warning_kind(w) for w in info.warnings] == ["repeated_frames"]
    i = info.repeated[0]
    frames = decode_frames(real["dropped_avi"], [i - 1, i], info)
    np.testing.assert_array_equal(frames[0], frames[1])


def test_header_count_is_a_hint(real):
    info = probe_video(real["header_count"])
    assert info.num_frames == 50
    assert [warning_kind(w) for w in info.warnings] == ["frame_count"]
    assert "declares 51 frames, 50" in info.warnings[0]


def test_damaged_packets_keep_every_decodable_frame_with_a_warning(real):
    info = probe_video(real["bad_nal"])
    report = DecodeReport()
    with pytest.warns(VideoWarning, match="decode_errors"):
        frames = decode_frames(real["bad_nal"], range(info.num_frames), info, report=report)
    assert frames.shape[0] == 100 and report.error_count == 3 and len(report.filled) == 3
    with collect_video_warnings() as texts:  # views over the whole video: accepted, warning collected
        views = decode_views(real["bad_nal"], ViewSpec(clip_len=8, num_clips=10, num_crops=3, resize=64,
                                                       crop_size=64))
    assert views.shape == (30, 8, 64, 64, 3) and [warning_kind(t) for t in texts] == ["decode_errors"]


def test_clip_without_decodable_frames_is_refused(real, tmp_path):
    """Damage every packet after the first second: clips past it have nothing of their own to show."""
    src = real["bad_nal"]
    ruined = damage(src, tmp_path / "ruined.mp4", range(30, len(packets(src))), "whole")
    with pytest.raises(VideoError, match="no decodable frame") as err:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VideoWarning)
            decode_views(ruined, ViewSpec(clip_len=8, num_clips=4, num_crops=1, resize=32, crop_size=32))
    assert err.value.reason == "undecodable"


def test_index_check_separates_refused_from_warnings(real, tmp_path, capsys):
    index = build_index([str(p) for p in real.values()], workers=1, decode=True)
    assert find_problems(index) == []
    kinds = {(p.rsplit("/", 1)[-1], kind) for p, kind, _ in find_warnings(index)}
    assert {("rotate90.mp4", "rotated"), ("dropped.avi", "repeated_frames"), ("bad_nal.mp4", "decode_errors"),
            ("header_count.avi", "frame_count")} <= kinds
    assert not any(name.startswith(("source", "trim_copy", "vp9", "vfr")) for name, _ in kinds)
    (tmp_path / "videos").mkdir()
    for p in real.values():
        (tmp_path / "videos" / p.name).symlink_to(p)
    (tmp_path / "videos" / "notes.mp4").write_text("not a video\n" * 20)
    report = tmp_path / "check.csv"
    assert zoo_prepare(["index", str(tmp_path / "videos"), "--cache-dir", str(tmp_path / "cache"), "--workers",
                        "1", "--quiet", "--check", "--decode", "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert f"indexed {len(real) + 1} video(s): {len(real)} accepted (6 with warnings), 1 refused" in out
    rows = [line.split(",")[:3] for line in report.read_text().splitlines()[1:]]
    assert [r[:2] for r in rows if r[0] == "refused"] == [["refused", "undecodable"]]
    assert {r[1] for r in rows if r[0] == "warning"} == {"rotated", "repeated_frames", "decode_errors",
                                                         "frame_count"}


def test_zoo_test_skips_nothing_ffmpeg_plays(real, tmp_path, capsys):
    """``zoo-test --large --crops 3`` over a folder of them: every video evaluated, warnings counted apart
    from refusals in metrics.json."""
    import json

    import torch

    import zoo
    from zoo.evaluate.cli import main as zoo_test

    root = tmp_path / "data"
    for k, (name, path) in enumerate(sorted(real.items())):
        folder = root / "val" / f"c{k % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).symlink_to(path)
    (root / "val" / "c0" / "notes.mp4").write_text("not a video\n" * 20)
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125)
    checkpoint = tmp_path / "tiny.safetensors"
    zoo.save_checkpoint(model, checkpoint, classes=["c0", "c1"], clip_len=4, sampling_rate=1, resize=32,
                        crop_size=32)
    out = tmp_path / "out"
    assert zoo_test(["--data-path", str(root), "--checkpoint", str(checkpoint), "--large", "--crops", "3",
                     "--clips", "2", "--workers", "0", "--output", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_videos"] == len(real)
    assert metrics["num_skipped"] == 1 and metrics["skip_counts"] == {"undecodable": 1}
    assert metrics["num_with_warnings"] == 6
    assert metrics["warning_counts"] == {"rotated": 3, "repeated_frames": 1, "decode_errors": 1, "frame_count": 1}
    captured = capsys.readouterr()
    assert "videos with warnings" in captured.out
    # each warning in the tool's one-line form, counted; never Python's warning lines with source snippets
    lines = [line for line in captured.err.splitlines() if line.startswith("zoo-test: warning: ")]
    assert len(lines) == sum(len(w["warnings"]) for w in metrics["warnings"]) >= 6
    assert f"zoo-test: {len(lines)} warning(s) about inputs" in captured.err
    assert "VideoWarning" not in captured.err and "warnings.warn" not in captured.err
    assert zoo_test(["--data-path", str(root), "--checkpoint", str(checkpoint), "--large", "--crops", "3",
                     "--clips", "2", "--workers", "0", "--no-progress", "-q", "--output", str(tmp_path / "q")]) == 0
    assert "warning" not in capsys.readouterr().err.lower()  # -q: silent


def test_trim_writes_upright_output_without_rotation(real, tmp_path):
    """``zoo-prepare trim`` of a phone video: upright frames and no display matrix left, as the ffmpeg CLI
    writes it (``ffmpeg -ss 1 -t 2 -i rotated.mp4 -r 25 -vf scale=...``)."""
    import subprocess

    from ffmpeg_videos import require_ffmpeg
    from zoo.data.prepare.segment import transcode_segment

    ffmpeg, ffprobe = require_ffmpeg()
    src = real["rotate90"]
    ours = tmp_path / "ours.mp4"
    result = transcode_segment(src, ours, 1, 3, fps=25, short_side=64)
    theirs = tmp_path / "theirs.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-ss", "1", "-t", "2", "-i", str(src), "-r", "25", "-vf",
                    "scale=64:-2", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(theirs)], check=True)
    side_data = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "stream_side_data_list", "-of", "json", str(ours)], check=True,
                               capture_output=True, text=True).stdout
    assert "Display Matrix" not in side_data and "rotation" not in side_data
    info = probe_video(ours)
    assert info.rotation == 0 and info.warnings == []
    mine, reference = ffmpeg_frames(ours)[0], ffmpeg_frames(theirs)[0]
    assert (result.width, result.height) == (64, 86) == (reference.shape[2], reference.shape[1])
    assert mine.shape == reference.shape
    for k in (0, len(mine) // 2, len(mine) - 1):  # both re-encoded and scaled: a few levels apart
        assert mean_abs_diff(mine[k], reference[k]) < 8
        assert mean_abs_diff(mine[k], np.rot90(reference[k], 2)) > 50  # a wrong turn would be far off


def test_frames_nobody_asked_for_are_skipped_exactly(real):
    """Sparse frames of a B-frame stream: the decoder skips the non-reference frames between them, and what
    it returns is still exactly ffmpeg's frames."""
    info = probe_video(real["source"])
    reference, _ = ffmpeg_frames(real["source"])
    picks = [3, 40, 41, 90, 149]
    report = DecodeReport()
    frames = decode_frames(real["source"], picks, info, report=report)
    assert report.decoded < 140  # of the 150 frames up to the last pick
    for k, i in enumerate(picks):
        np.testing.assert_array_equal(frames[k], reference[i])
