"""Every frame of one video per class that once came out differently from the ffmpeg CLI -- B-frames whose
timestamps lie, mirrored display matrices, audio longer than the video, partial downloads, undecodable
lead-ins, raw elementary streams, mid-stream size changes, "no change" packets -- against ``ffmpeg -vsync
passthrough -f rawvideo -pix_fmt rgb24``: the same number of frames, in the same order, with the same pixels.
Where ffmpeg prints no picture for a packet (TSCC's "no change" packets), the frame at that packet's time shows
ffmpeg's picture a player shows then: the previous one."""
from __future__ import annotations

import warnings

import json
import subprocess

import numpy as np
import pytest

from zoo.data.decode import decode_frames
from zoo.data.errors import VideoWarning, warning_kind
from zoo.data.index import probe_entry
from zoo.data.probe import probe_video
from zoo.data.views import ViewSpec, decode_views, view_clip_indices

from ffmpeg_videos import (CLASSES, ffmpeg_frames, ffmpeg_pictures, packets, require_ffmpeg, set_display_matrix,
                           shown_at, write_tscc_avi)

#: the frames of these videos cannot be listed from packet timestamps: they are decoded once when probed
DECODER_ORDER = {"bframes_avi", "packed_avi", "pts_equal_dts", "ts_mid_gop", "raw_h264", "raw_m2v", "size_change",
                 "shared_timestamps"}


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    from ffmpeg_videos import make_class_videos

    return make_class_videos(tmp_path_factory.mktemp("classes"))


def every_frame(path, info):
    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoWarning)  # none of these has a damaged packet
        return decode_frames(path, range(info.num_frames), info)


@pytest.mark.parametrize("name", sorted(set(CLASSES) - {"size_change", "no_change_end"}))
def test_every_frame_is_ffmpegs(classes, name):
    path = classes[name]
    reference = ffmpeg_pictures(path)
    info = probe_video(path)
    assert info.frame_order == ("decoder" if name in DECODER_ORDER else "pts")
    assert info.num_frames == len(reference)
    assert (info.height, info.width) == reference.shape[1:3]
    assert np.all(np.diff(info.frame_times) > 0)
    frames = every_frame(path, info)
    for i in range(len(reference)):  # one frame at a time: a failure names the first frame out of place
        np.testing.assert_array_equal(frames[i], reference[i], err_msg=f"{name}: frame {i}")
    # a few frames asked for on their own, out of order (seeking where the video allows it)
    picks = [info.num_frames - 1, info.num_frames // 2, 3, info.num_frames // 2]
    np.testing.assert_array_equal(decode_frames(path, picks, info), reference[picks])


def test_b_frames_with_lying_timestamps_come_in_display_order(classes):
    """The regression: sorting frames by their packets' timestamps put frame i-1 at position i."""
    for name in ("bframes_avi", "packed_avi", "pts_equal_dts"):
        reference = ffmpeg_pictures(classes[name])
        frames = every_frame(classes[name], probe_video(classes[name]))
        shifted = sum(not np.array_equal(frames[i], reference[i]) for i in range(len(reference)))
        assert shifted == 0, f"{name}: {shifted} frames out of place"
        # the frames are really distinct pictures (testsrc2 moves every frame): order is observable
        assert all(not np.array_equal(reference[i], reference[i + 1]) for i in range(len(reference) - 1))


def test_size_change_scales_to_the_first_frame_size(classes):
    """ffmpeg scales every picture to the first one's size (bicubic). libswscale 9 (PyAV) places the chroma of
    a scaled picture where the stream says (H.264: left-sited); ffmpeg 5.1's scale filter ignores that tag
    and assumes centred chroma. So: the frames of the first size match ffmpeg's exactly; ffmpeg's frames of
    the second size are its default bicubic scaling of the second half (centred chroma), and ours are the
    same scaling with H.264's siting spelt out (in_h_chr_pos=0, in_v_chr_pos=128): the siting is the only
    difference, and it is a half chroma sample, not a shift of the picture."""
    path = classes["size_change"]
    reference = ffmpeg_pictures(path)
    info = probe_video(path)
    assert (info.width, info.height) == (160, 120) and info.num_frames == len(reference) == 100
    frames = every_frame(path, info)
    np.testing.assert_array_equal(frames[:50], reference[:50])
    second = path.with_name("size_change_second_half.ts")
    centred = ffmpeg_pictures(second, "-vf", "scale=160:120:flags=bicubic")
    sited = ffmpeg_pictures(second, "-vf", "scale=160:120:flags=bicubic:in_h_chr_pos=0:in_v_chr_pos=128")
    np.testing.assert_array_equal(reference[50:], centred)
    np.testing.assert_array_equal(frames[50:], sited)
    assert np.abs(frames[50:].astype(int) - reference[50:]).mean() < 4  # half a chroma sample on sharp edges


@pytest.mark.parametrize("matrix", [(1, 0, 0, 1), (0, 1, 1, 0), (0, 1, -1, 0), (0, -1, 1, 0), (-1, 0, 0, -1),
                                    (-1, 0, 0, 1), (1, 0, 0, -1), (0, -1, -1, 0)])
def test_all_eight_display_orientations_are_ffmpegs(classes, tmp_path, matrix):
    """Each of the eight quarter-turn/mirror display matrices, as the ffmpeg CLI's autorotation shows it,
    through the native and the resized decoding paths."""
    path = set_display_matrix(classes["audio_longer"], tmp_path / "oriented.mp4", *matrix)
    reference = ffmpeg_pictures(path)
    info = probe_video(path)
    assert (info.height, info.width) == reference.shape[1:3]
    assert ([warning_kind(w) for w in info.warnings] == ["rotated"]) == (matrix != (1, 0, 0, 1))
    np.testing.assert_array_equal(every_frame(path, info), reference)
    spec = ViewSpec(clip_len=2, num_clips=2, resize=None, crop_size=None)
    views = decode_views(path, spec, info).numpy()
    first = [clip[0] for clip in view_clip_indices(info, spec)]
    np.testing.assert_array_equal(views[:, 0], reference[first])


def test_audio_longer_than_video_is_complete(classes):
    info = probe_video(classes["audio_longer"])
    assert info.warnings == [] and info.num_frames == 75


def test_cut_download_is_used_with_a_truncated_warning(classes):
    info = probe_video(classes["cut_download"])
    assert [warning_kind(w) for w in info.warnings] == ["truncated"]
    assert 40 < info.num_frames < 100
    spec = ViewSpec(clip_len=4, num_clips=3, resize=32, crop_size=32)
    assert decode_views(classes["cut_download"], spec, info).shape == (3, 4, 32, 32, 3)


def test_mid_gop_lead_in_is_not_counted(classes):
    """ffmpeg shows nothing before the first decodable picture: clip 0 starts there and is not refused."""
    info = probe_video(classes["ts_mid_gop"])
    reference = ffmpeg_pictures(classes["ts_mid_gop"])
    spec = ViewSpec(clip_len=4, num_clips=2, resize=None, crop_size=None)
    views = decode_views(classes["ts_mid_gop"], spec, info).numpy()
    np.testing.assert_array_equal(views[0], reference[:4])


def test_no_change_packets_at_the_end_repeat_the_last_picture(classes):
    """The class "no change packets at the end": a TSCC screen capture whose last second is 25 packets of 2
    bytes. The container counts 55 frames over 2.2 s; ffmpeg's TSCC decoder gives no picture for the 2-byte
    packets, so ``-vsync passthrough`` (and ``cfr``) print the 30 pictures. The project keeps the 55 frames at
    their times, as in the middle of a stream: frame i is ffmpeg's picture shown at its time, so the last 25
    repeat the last picture. The video is complete (no ``truncated`` or ``frame_count`` warning), decoding it
    warns of nothing, and the last view ends on the still screen."""
    path = classes["no_change_end"]
    sizes = [size for _, size, _ in packets(path)]
    assert len(sizes) == 55 and sizes[30:] == [2] * 25 and min(sizes[:30]) > 1000
    _, ffprobe = require_ffmpeg()
    declared = json.loads(subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries",
                                          "stream=nb_frames,duration", "-of", "json", str(path)],
                                         check=True, capture_output=True, text=True).stdout)["streams"][0]
    assert (int(declared["nb_frames"]), float(declared["duration"])) == (55, 2.2)
    reference, times = ffmpeg_frames(path)
    assert len(reference) == 30
    np.testing.assert_array_equal(ffmpeg_pictures(path, "-vsync", "cfr"), reference)
    info = probe_video(path)
    assert info.num_frames == 55 and info.warnings == [] and info.repeated == []
    assert info.frame_times[-1] == pytest.approx(54 / 25)
    frames = every_frame(path, info)  # a VideoWarning fails it
    for i in range(info.num_frames):
        np.testing.assert_array_equal(frames[i], reference[shown_at(times, info.frame_times[i])], err_msg=f"{i}")
    np.testing.assert_array_equal(frames[30:], np.broadcast_to(reference[29], frames[30:].shape))
    picks = [54, 40, 3, 29]  # asked for on their own, out of order, with seeking
    np.testing.assert_array_equal(decode_frames(path, picks, info), reference[[29, 29, 3, 29]])
    spec = ViewSpec(clip_len=8, num_clips=4, resize=None, crop_size=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VideoWarning)
        views = decode_views(path, spec, info).numpy()
    np.testing.assert_array_equal(views[-1], frames[47:55])
    assert probe_entry(str(path), decode=True).warnings == []  # zoo-prepare index --check: nothing to report


def test_no_change_packets_that_give_a_picture_stay_frames(classes):
    """QuickTime Animation writes 7-byte "no change" packets for a still picture, and the stream ends on one: the
    decoder gives a copy of the picture for each, so ffmpeg prints them all, and they are frames here too
    (every frame is compared in test_every_frame_is_ffmpegs)."""
    sizes = [size for _, size, _ in packets(classes["no_change_qtrle"])]
    assert sizes[-1] == 7 and sizes.count(7) >= 20
    info = probe_video(classes["no_change_qtrle"])
    assert info.num_frames == len(sizes) == len(ffmpeg_pictures(classes["no_change_qtrle"])) == 50
    assert info.warnings == []


def test_no_change_packets_in_the_middle_repeat_the_picture(tmp_path):
    """"No change" packets in the middle keep their frame times and show the previous picture, as a player
    shows them, like those at the end; they are normal in a screen capture, so nothing warns."""
    path = write_tscc_avi(tmp_path / "middle_and_end.avi", 55, {10, 11, 12, *range(30, 55)})
    reference, times = ffmpeg_frames(path)
    info = probe_video(path)
    assert len(reference) == 27 and info.num_frames == 55 and info.warnings == []
    frames = every_frame(path, info)
    for i in range(info.num_frames):
        np.testing.assert_array_equal(frames[i], reference[shown_at(times, info.frame_times[i])], err_msg=f"{i}")
    np.testing.assert_array_equal(frames[10:13], frames[[9, 9, 9]])
