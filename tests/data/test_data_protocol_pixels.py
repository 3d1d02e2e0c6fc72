"""Each protocol's own pixels, on clips made with the ffmpeg CLI here.

Colour rules: a BT.709-tagged clip converted by the ``bt601`` rule matches a direct BT.601 conversion of its
YUV planes pixel for pixel, and by the ``frame_tag`` rule a BT.709 one; a full-range (``yuvj``) clip is converted
as full range under ``bt601``, as Caffe2's libswscale did. Display rotation: applied by default, left out with
``upright=False`` (as Caffe2 and torchvision's reader read frames)."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from ffmpeg_videos import require_ffmpeg
from zoo.data.decode import decode_frames
from zoo.data.probe import probe_video
from zoo.data.views import TrainClipSpec, ViewSpec, decode_train_clip, decode_views

H, W, N = 48, 64, 6
#: (Kr, Kb) luma weights of the two matrices
BT601, BT709 = (0.299, 0.114), (0.2126, 0.0722)


def _ffmpeg(*args: str) -> bytes:
    ffmpeg, _ = require_ffmpeg()
    return subprocess.run([ffmpeg, "-v", "error", "-y", *args], check=True, capture_output=True).stdout


def _make(path, pix_fmt: str, codec: list[str], tags: list[str]) -> None:
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate=10:duration={N / 10}", "-vf", f"format={pix_fmt}",
            *codec, *tags, str(path))


def _yuv_planes(path, pix_fmt: str) -> np.ndarray:
    """The decoded Y, U, V planes of every frame as the ffmpeg CLI gives them: float ``(N, 3, H, W)``."""
    raw = _ffmpeg("-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-")
    return np.frombuffer(raw, np.uint8).reshape(-1, 3, H, W).astype(np.float64)


def direct_rgb(yuv: np.ndarray, weights: tuple[float, float], full_range: bool) -> np.ndarray:
    """The textbook YUV -> RGB conversion (ITU-R BT.601 / BT.709 with ``weights`` = (Kr, Kb)), uint8."""
    kr, kb = weights
    kg = 1 - kr - kb
    y, u, v = yuv[:, 0], yuv[:, 1] - 128, yuv[:, 2] - 128
    if not full_range:  # luma 16-235, chroma 16-240
        y, u, v = (y - 16) * 255 / 219, u * 255 / 224, v * 255 / 224
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = y - (2 * (1 - kb) * kb * u + 2 * (1 - kr) * kr * v) / kg
    return np.clip(np.round(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.fixture(scope="module")
def bt709_clip(tmp_path_factory):
    """H.264 4:4:4 (no chroma subsampling: the reference needs no upsampling), limited range, tagged BT.709."""
    path = tmp_path_factory.mktemp("colour") / "bt709.mp4"
    _make(path, "yuv444p", ["-c:v", "libx264", "-preset", "ultrafast"],
          ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"])
    return path


def test_bt601_rule_matches_a_direct_bt601_conversion_on_every_frame(bt709_clip):
    yuv = _yuv_planes(bt709_clip, "yuv444p")
    assert yuv.shape[0] == N
    bt601, tagged = direct_rgb(yuv, BT601, False), direct_rgb(yuv, BT709, False)
    assert _max_diff(bt601, tagged) > 10   # the clip's colours make the two matrices differ visibly
    got = decode_frames(bt709_clip, range(N), colour_rule="bt601")
    assert got.shape == bt601.shape
    # pixel for pixel: within one level (libswscale's fixed-point coefficients), almost always exact
    for frame, expected in zip(got, bt601):
        assert _max_diff(frame, expected) <= 1
    assert np.mean(got != bt601) < 0.01
    # the ffmpeg rule follows the frame's BT.709 tag (and is the default)
    own = decode_frames(bt709_clip, range(N))
    assert np.array_equal(own, decode_frames(bt709_clip, range(N), colour_rule="frame_tag"))
    for frame, expected in zip(own, tagged):
        assert _max_diff(frame, expected) <= 1
    assert _max_diff(own, got) > 10


@pytest.mark.parametrize("pix_fmt", ["yuv444p", "yuv420p"])
def test_frame_tag_rule_gives_ffmpegs_frames(tmp_path, pix_fmt):
    """Every frame of a BT.709-tagged clip, count, order and pixels, is what ``ffmpeg -vsync passthrough`` shows."""
    path = tmp_path / f"bt709_{pix_fmt}.mp4"
    _make(path, pix_fmt, ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"],
          ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"])
    raw = _ffmpeg("-i", str(path), "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    reference = np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)
    info = probe_video(path)
    assert info.num_frames == len(reference) == N
    np.testing.assert_array_equal(decode_frames(path, range(N), info), reference)
    assert _max_diff(decode_frames(path, range(N), info, colour_rule="bt601"), reference) > 10


def test_views_and_training_clips_follow_the_colour_rule(bt709_clip):
    info = probe_video(bt709_clip)
    bt601 = decode_frames(bt709_clip, range(N), info, colour_rule="bt601")
    tagged = decode_frames(bt709_clip, range(N), info)
    for resize_filter in ("swscale_bilinear", "torch_bilinear"):   # in the decoder, or torch after it
        for rule, expected in (("bt601", bt601), ("frame_tag", tagged)):
            spec = ViewSpec(clip_len=N, num_clips=1, resize=None, crop_size=None, resize_filter=resize_filter,
                            colour_rule=rule)
            assert np.array_equal(decode_views(bt709_clip, spec, info).numpy()[0], expected)
    clip = decode_train_clip(bt709_clip, TrainClipSpec(clip_len=N, scale_range=None, resize=(H, W), crop_size=H,
                                                       flip=False, colour_rule="bt601"), info=info).numpy()
    x = [x for x in range(W - H + 1) if np.array_equal(clip[0], bt601[0, :, x:x + H])]
    assert x and np.array_equal(clip, bt601[:, :, x[0]:x[0] + H])


def test_full_range_formats_stay_full_range_under_bt601(tmp_path):
    path = tmp_path / "full.avi"   # MJPEG: yuvj444p, full range
    _make(path, "yuvj444p", ["-c:v", "mjpeg", "-q:v", "2"], [])
    yuv = _yuv_planes(path, "yuvj444p")
    got = decode_frames(path, range(N), colour_rule="bt601")
    full, limited = direct_rgb(yuv, BT601, True), direct_rgb(yuv, BT601, False)
    assert _max_diff(full, limited) > 10
    for frame, expected in zip(got, full):
        assert _max_diff(frame, expected) <= 1


def test_unknown_colour_rule_is_refused():
    with pytest.raises(ValueError, match="colour rule"):
        ViewSpec(colour_rule="bt2020")


@pytest.mark.parametrize("degrees", [90, 180])
def test_display_rotation_is_applied_unless_the_protocol_says_not(tmp_path, degrees):
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rotated.mp4"
    _make(plain, "yuv420p", ["-c:v", "libx264", "-preset", "ultrafast"], [])
    try:   # as phones record: a display matrix on a stream copy (-display_rotation from ffmpeg 6 on)
        _ffmpeg("-display_rotation", str(degrees), "-i", str(plain), "-c", "copy", str(rotated))
    except subprocess.CalledProcessError:
        _ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(rotated))
    info = probe_video(rotated)
    assert info.rotation == degrees   # counter-clockwise, as ffprobe prints it
    swap = degrees == 90
    size = (40, 24) if swap else (24, 40)
    spec = ViewSpec(clip_len=3, sampling_rate=2, num_clips=2, resize=size, crop_size=None)
    stored = decode_views(plain, ViewSpec(**{**spec.__dict__, "resize": (24, 40)})).numpy()
    upright = decode_views(rotated, spec, info).numpy()
    np.testing.assert_array_equal(upright, np.rot90(stored, degrees // 90, axes=(2, 3)))
    as_stored = decode_views(rotated, ViewSpec(**{**spec.__dict__, "resize": (24, 40), "upright": False}), info)
    np.testing.assert_array_equal(as_stored.numpy(), stored)
    native = decode_frames(rotated, [0, 5], info, upright=False)
    np.testing.assert_array_equal(native, decode_frames(plain, [0, 5]))
