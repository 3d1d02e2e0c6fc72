"""probe_video / decode_frames against a plain full PyAV decode."""
from __future__ import annotations

import numpy as np
import pytest

from zoo.data.decode import decode_frames
from zoo.data.errors import VideoError, warning_kind
from zoo.data.probe import VideoInfo, probe_video

from data_videos import VIDEOS, full_decode, read_index

GOOD = [*VIDEOS, "vfr"]


@pytest.mark.parametrize("name", GOOD)
def test_probe_counts_every_frame(videos, name):
    info = probe_video(videos[name])
    reference = full_decode(videos[name])
    assert info.num_frames == len(reference)
    assert len(info.frame_times) == info.num_frames
    assert info.frame_times == sorted(info.frame_times)
    assert (info.height, info.width) == reference[0].shape[:2]
    if name in VIDEOS:
        assert info.fps == pytest.approx(VIDEOS[name][2])
        assert info.duration == pytest.approx(info.num_frames / info.fps)


@pytest.mark.parametrize("name", GOOD)
@pytest.mark.parametrize("threads", [0, 1])
def test_selected_frames_equal_full_decode(videos, name, threads):
    info = probe_video(videos[name])
    reference = full_decode(videos[name])
    n = info.num_frames
    for indices in ([0, 1, 2], [n // 2, n // 2 + 3, n - 1], [n - 1], [7, 3, 3, n - 2, 7], list(range(n))):
        frames = decode_frames(videos[name], indices, info, threads=threads)
        assert frames.shape == (len(indices), info.height, info.width, 3)
        for k, i in enumerate(indices):
            np.testing.assert_array_equal(frames[k], reference[i])
            assert read_index(frames[k]) == i  # and it is really frame i of what was encoded


@pytest.mark.parametrize("name", ["h264_30fps", "mpeg4_25fps", "vfr"])
def test_resize_in_decoder_equals_resized_full_decode(videos, name):
    info = probe_video(videos[name])
    indices = list(range(info.num_frames))
    short = decode_frames(videos[name], indices, info, size=32)
    fixed = decode_frames(videos[name], indices, info, size=(30, 50))
    ref_short = full_decode(videos[name], size=short.shape[1:3])
    ref_fixed = full_decode(videos[name], size=(30, 50))
    assert min(short.shape[1:3]) == 32
    assert short.shape[2] / short.shape[1] == pytest.approx(info.width / info.height, abs=0.05)
    assert fixed.shape == (len(indices), 30, 50, 3)
    for k, i in enumerate(indices):
        np.testing.assert_array_equal(short[k], ref_short[i])
        np.testing.assert_array_equal(fixed[k], ref_fixed[i])
        assert read_index(short[k]) == i


def test_decode_without_frame_times_uses_constant_rate(videos):
    info = probe_video(videos["h264_30fps"], exact=False)
    assert info.frame_times is None and info.num_frames == 75
    frames = decode_frames(videos["h264_30fps"], range(75), info)
    assert [read_index(f) for f in frames] == list(range(75))


def test_vfr_selects_by_timestamp_not_by_count(videos):
    """On a variable-frame-rate video frame k is the k-th *timestamp*; uniform-rate guessing would fail."""
    info = probe_video(videos["vfr"])
    gaps = np.diff(info.frame_times)
    assert gaps.max() > 2.5 * gaps.min()  # really variable
    frames = decode_frames(videos["vfr"], range(info.num_frames), info)
    assert [read_index(f) for f in frames] == list(range(info.num_frames))
    assert [read_index(f) for f in decode_frames(videos["vfr"], [30, 10, 44], info)] == [30, 10, 44]


@pytest.mark.parametrize("name, reason", [("zero_bytes", "empty"), ("truncated_mp4", "truncated"),
                                          ("not_a_video", "undecodable")])
def test_bad_videos_raise_video_error(videos, name, reason):
    """(An MP4 cut before the end of its index cannot be played by ffmpeg either.)"""
    with pytest.raises(VideoError) as err:
        probe_video(videos[name])
    assert err.value.reason == reason and err.value.path == str(videos[name])
    assert str(videos[name]) in str(err.value)


def test_cut_short_mkv_gives_the_frames_that_are_there(videos):
    """A partial download that ffmpeg plays: its frames (those whose packets are there) are used, every one
    as ffmpeg shows it, with a ``truncated`` warning."""
    from ffmpeg_videos import ffmpeg_pictures

    info = probe_video(videos["truncated_mkv"])
    reference = ffmpeg_pictures(videos["truncated_mkv"])
    assert [warning_kind(w) for w in info.warnings] == ["truncated"]
    assert 0 < info.num_frames == len(reference) < probe_video(videos["h264_portrait_15fps"]).num_frames
    np.testing.assert_array_equal(decode_frames(videos["truncated_mkv"], range(info.num_frames), info), reference)


def test_missing_file(tmp_path):
    with pytest.raises(VideoError) as err:
        decode_frames(tmp_path / "nope.mp4", [0])
    assert err.value.reason == "missing"


def test_frames_beyond_stream_are_reported_truncated(videos):
    """Stale metadata (e.g. a cache) claiming more frames than the file has: a clear truncation error."""
    info = probe_video(videos["h264_30fps"])
    stale = VideoInfo(info.path, info.fps, 90, 3.0, info.width, info.height,
                      info.frame_times + [2.5 + k / 30 for k in range(15)])
    with pytest.raises(VideoError) as err:
        decode_frames(videos["h264_30fps"], [10, 85], stale)
    assert err.value.reason == "truncated"


def test_index_out_of_range(videos):
    with pytest.raises(IndexError):
        decode_frames(videos["h264_30fps"], [75])


def test_video_error_survives_pickling():
    import pickle
    err = pickle.loads(pickle.dumps(VideoError("/x.mp4", "truncated", "cut")))
    assert (err.path, err.reason, err.detail) == ("/x.mp4", "truncated", "cut")


def test_video_info_round_trips_through_a_dict(videos):
    info = probe_video(videos["vfr"])
    assert VideoInfo.from_dict({**info.to_dict(), "extra": 1}) == info


def test_frame_count_warning_does_not_count_discarded_packets():
    """An edit-list file whose header counts the presented frames (48) or all packets (48 + 4) agrees with
    itself: no "declares 48, 48 are presented" warning; a header counting something else is a hint worth one."""
    from zoo.data.probe import frame_count_warnings

    assert frame_count_warnings("x.mp4", 48, 48, 4) == [] and frame_count_warnings("x.mp4", 52, 48, 4) == []
    assert frame_count_warnings("x.mp4", 0, 48, 4) == []
    assert frame_count_warnings("x.mp4", 50, 48, 4) == ["frame_count: the header declares 50 frames, 48 are "
                                                        "presented"]
