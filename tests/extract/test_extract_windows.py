"""Window placement and times for constant- and variable-frame-rate videos."""
import numpy as np
import pytest

from extract_helpers import VFR_TIMES, write_cfr, write_vfr
from zoo.data.probe import probe_video
from zoo.data.views import view_clip_indices
from zoo.data.views import ViewSpec
from zoo.extract.windows import WindowSpec, plan_windows, sliding_starts


def W(window=16, sampling_rate=1, frame_rate=None, clips=None, crops=1, resize=128, crop_size=112, **sliding):
    view = ViewSpec(clip_len=window, sampling_rate=sampling_rate, frame_rate=frame_rate, num_clips=clips or 1,
                    num_crops=crops, resize=resize, crop_size=crop_size)
    return WindowSpec(view, views=clips is not None, **sliding)


@pytest.fixture(scope="module")
def cfr(tmp_path_factory):
    return probe_video(write_cfr(tmp_path_factory.mktemp("w") / "cfr.mp4", 16, 30))


@pytest.fixture(scope="module")
def vfr(tmp_path_factory):
    return probe_video(write_vfr(tmp_path_factory.mktemp("w") / "vfr.mkv"))


def test_cfr_sliding_windows_back_to_back_and_overlapping(cfr):
    plan = plan_windows(cfr, W(window=4))                       # default stride: one window
    assert [f[0] for f in plan.frames] == [0, 4, 8, 12]
    np.testing.assert_allclose(plan.start, [0, 4 / 30, 8 / 30, 12 / 30])
    np.testing.assert_allclose(plan.end, [4 / 30, 8 / 30, 12 / 30, 16 / 30])
    plan = plan_windows(cfr, W(window=4, stride=2))
    assert len(plan) == 7 and plan.frames[-1] == [12, 13, 14, 15]       # ends exactly on the last frame
    plan = plan_windows(cfr, W(window=4, sampling_rate=2, stride=3))   # span 7
    assert plan.frames[:2] == [[0, 2, 4, 6], [3, 5, 7, 9]]
    np.testing.assert_allclose(plan.end[0], 7 / 30)


def test_cfr_last_partial_window_is_padded_or_dropped(cfr):
    plan = plan_windows(cfr, W(window=5, stride=4))
    assert [f[0] for f in plan.frames] == [0, 4, 8, 12]
    assert plan.frames[-1] == [12, 13, 14, 15, 15]                       # repeats the last frame
    np.testing.assert_allclose(plan.end[-1], 16 / 30)                     # ends with the video
    assert len(plan_windows(cfr, W(window=5, stride=4, pad_last=False))) == 3
    short = plan_windows(cfr, W(window=20, pad_last=False))     # shorter than one window
    assert short.frames == [list(range(16)) + [15] * 4]


def test_cfr_stride_in_seconds_and_frame_rate(cfr):
    plan = plan_windows(cfr, W(window=4, stride_sec=0.2))      # every 6 frames at 30 fps
    assert [f[0] for f in plan.frames] == [0, 6, 12]
    plan = plan_windows(cfr, W(window=2, frame_rate=15))       # every second frame
    assert plan.frames[:2] == [[0, 2], [4, 6]] and len(plan) == 4
    np.testing.assert_allclose(plan.start[:2], [0, 4 / 30])
    np.testing.assert_allclose(plan.end[:2], [4 / 30, 8 / 30])


def test_vfr_windows_follow_presentation_times(vfr):
    assert vfr.frame_times is not None and len(vfr.frame_times) == len(VFR_TIMES)
    plan = plan_windows(vfr, W(window=2, stride_sec=0.25))
    # the first frame at or after 0, 0.25, 0.5, 0.75 s; the last window runs past the end and is padded
    assert [f[0] for f in plan.frames] == [0, 4, 7, 11]
    np.testing.assert_allclose(plan.start, [0.0, 0.30, 0.60, 1.0], atol=1e-3)
    np.testing.assert_allclose(plan.end[:3], [0.08, 0.38, 0.68], atol=1e-3)
    assert plan.end[3] > 1.0 and plan.frames[3] == [11, 11]
    by_frames = plan_windows(vfr, W(window=3, stride=3))
    np.testing.assert_allclose(by_frames.start, [0.0, 0.12, 0.38, 0.68], atol=1e-3)
    np.testing.assert_allclose(by_frames.end[:3], [0.12, 0.38, 0.68], atol=1e-3)   # each to the next window


def test_views_and_dense_starts_match_the_evaluator(cfr):
    spec = W(window=4, sampling_rate=2, clips=3, crops=3, resize=32, crop_size=32)
    assert plan_windows(cfr, spec).frames == view_clip_indices(cfr, spec.view)
    dense = plan_windows(cfr, W(window=4), starts=[2, 9])
    assert dense.frames == [[2, 3, 4, 5], [9, 10, 11, 12]]
    np.testing.assert_allclose(dense.start, [2 / 30, 9 / 30])


def test_sliding_starts_edge_cases():
    times = [i / 10 for i in range(10)]
    assert sliding_starts(times, 3, 3, None) == [0, 3, 6, 9]
    assert sliding_starts(times, 3, 3, None, pad_last=False) == [0, 3, 6]
    assert sliding_starts(times, 3, 5, None) == [0, 5]           # frames 8, 9 are covered by no window start
    assert sliding_starts(times, 20, 1, None) == [0]


def test_bad_specs():
    with pytest.raises(ValueError, match="not both"):
        W(stride=2, stride_sec=1.0)
    with pytest.raises(ValueError, match="crops"):
        W(crops=3)
    with pytest.raises(ValueError):
        W(window=0)


def test_short_videos_skip_rule(cfr):
    from zoo.data.errors import VideoError

    view = ViewSpec(clip_len=20, num_clips=1, short_videos="skip")
    with pytest.raises(VideoError, match="too_short"):
        plan_windows(cfr, WindowSpec(view))
