"""Videos made the way users make them, with the ffmpeg CLI (not with the library under test), and the frames
the ffmpeg CLI presents for them (``-vsync passthrough``, rgb24) as the reference.

The ffmpeg CLI is a test requirement: ``.ci/run`` installs Debian's package when it is missing, so its absence
is a failure here, never a skip.
"""
from __future__ import annotations

import bisect
import random
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

#: name -> what the video is (the keys of :func:`make_real_world_videos`)
KINDS = {
    "source": "H.264 with B-frames (3), 25 fps, keyframe every 50 frames",
    "trim_copy": "ffmpeg -ss 1.3 -t 3 -i source -c copy (MP4 edit list, discarded packets)",
    "rotate90": "source with a 90 degree display rotation (stream copy)",
    "rotate180": "source with a 180 degree display rotation (stream copy)",
    "rotate270": "source with a 270 degree display rotation (stream copy)",
    "dropped_avi": "MPEG-4 AVI whose capture dropped frames (zero-size chunks)",
    "bad_nal": "H.264 in 4 slices with two packets damaged across slice boundaries (the decoder rejects them)",
    "concealed_slice": "H.264 in 4 slices with bytes flipped inside two slices (the decoder conceals them)",
    "vp9_webm": "VP9 in WebM",
    "vfr": "H.264 with B-frames at a variable frame rate (4 of every 7 frames kept)",
    "header_count": "MPEG-4 AVI whose header declares one frame more than it holds",
}
#: videos where ffmpeg presents fewer pictures than there are frame times (repeated/damaged frames)
HOLES = ("dropped_avi", "bad_nal")


def require_ffmpeg() -> tuple[str, str]:
    """Paths of ``ffmpeg`` and ``ffprobe``; fails the test when they are missing."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if not ffmpeg or not ffprobe:
        pytest.fail("these tests build their videos with the ffmpeg CLI: install it (apt-get install ffmpeg; "
                    ".ci/run does it when it is missing)")
    return ffmpeg, ffprobe


def _run(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True).stdout


def _ffmpeg(*args: str) -> None:
    ffmpeg, _ = require_ffmpeg()
    _run(ffmpeg, "-v", "error", "-y", *args)


def _testsrc(size: str, rate: int, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]


def _rotate(src: Path, dst: Path, degrees: int) -> Path:
    """Stream-copy ``src`` with a display rotation, as phones record: ``-display_rotation`` (ffmpeg >= 6) or
    the ``rotate`` stream tag (older ffmpeg, e.g. Debian 12's 5.1)."""
    try:
        _ffmpeg("-display_rotation", str(degrees), "-i", str(src), "-c", "copy", str(dst))
    except subprocess.CalledProcessError:
        _ffmpeg("-i", str(src), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(dst))
    return dst


def packets(path: Path) -> list[tuple[int, int, str]]:
    """``(byte position, size, flags)`` of every video packet, read with ffprobe."""
    _, ffprobe = require_ffmpeg()
    rows = _run(ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos,size,flags",
                "-of", "json", str(path))
    import json

    return [(int(p["pos"]), int(p["size"]), p["flags"]) for p in json.loads(rows)["packets"]]


def damage(src: Path, dst: Path, which, mode: str) -> Path:
    """Copy ``src`` and corrupt its video packets ``which`` (decode order). ``mode``: ``"nal"`` (the middle
    third of a packet of 4 slices, hitting the NAL length fields: the decoder rejects the packet), ``"slice"``
    (a few bytes inside the first slice: the decoder conceals them) or ``"whole"`` (every byte)."""
    data = bytearray(src.read_bytes())
    rng = random.Random(0)
    found = packets(src)
    for k in which:
        pos, size, _ = found[k]
        if mode == "slice":
            first = struct.unpack(">I", data[pos:pos + 4])[0]  # AVCC: 4-byte length of the first NAL unit
            span = range(pos + 4 + first // 2, pos + 4 + first // 2 + 6)
        else:
            span = range(pos + size // 3, pos + 2 * size // 3) if mode == "nal" else range(pos, pos + size)
        for i in span:
            data[i] = rng.randrange(256) if mode != "slice" else data[i] ^ 0x5A
    dst.write_bytes(bytes(data))
    return dst


def _patch_avi_length(src: Path, dst: Path, delta: int) -> Path:
    """Copy an AVI and change the frame count of its video stream header (``strh`` dwLength) by ``delta``."""
    data = bytearray(src.read_bytes())
    strh = data.find(b"strh")
    assert data[strh + 8:strh + 12] == b"vids", f"{src}: the first stream header is not video"
    at = strh + 8 + 32  # after fccType, fccHandler, dwFlags, wPriority+wLanguage, dwInitialFrames, dwScale,
    # dwRate, dwStart
    (length,) = struct.unpack("<I", data[at:at + 4])
    data[at:at + 4] = struct.pack("<I", length + delta)
    dst.write_bytes(bytes(data))
    return dst


def make_real_world_videos(root: Path) -> dict[str, Path]:
    """Every video of :data:`KINDS`, made under ``root`` with the ffmpeg CLI."""
    root.mkdir(parents=True, exist_ok=True)
    v = {}
    v["source"] = root / "source.mp4"
    _ffmpeg(*_testsrc("160x120", 25, 6), "-c:v", "libx264", "-bf", "3", "-g", "50", "-pix_fmt", "yuv420p",
            str(v["source"]))
    v["trim_copy"] = root / "trim_copy.mp4"
    _ffmpeg("-ss", "1.3", "-t", "3", "-i", str(v["source"]), "-c", "copy", str(v["trim_copy"]))
    for degrees in (90, 180, 270):
        v[f"rotate{degrees}"] = _rotate(v["source"], root / f"rotate{degrees}.mp4", degrees)
    v["dropped_avi"] = root / "dropped.avi"  # the AVI muxer writes a zero-size chunk for every missing frame
    _ffmpeg(*_testsrc("160x120", 30, 4), "-vf", r"select='not(eq(mod(n\,5)\,2))*not(between(n\,40\,49))'",
            "-vsync", "passthrough", "-c:v", "mpeg4", "-q:v", "3", str(v["dropped_avi"]))
    sliced = root / "sliced.mp4"
    _ffmpeg(*_testsrc("320x240", 25, 4), "-c:v", "libx264", "-g", "25", "-bf", "2", "-x264-params", "slices=4",
            "-pix_fmt", "yuv420p", str(sliced))
    v["bad_nal"] = damage(sliced, root / "bad_nal.mp4", (30, 31, 60), "nal")
    v["concealed_slice"] = damage(sliced, root / "concealed_slice.mp4", (40, 70), "slice")
    v["vp9_webm"] = root / "vp9.webm"
    _ffmpeg(*_testsrc("160x120", 24, 3), "-c:v", "libvpx-vp9", "-b:v", "200k", "-g", "30", str(v["vp9_webm"]))
    v["vfr"] = root / "vfr.mp4"
    _ffmpeg(*_testsrc("160x120", 30, 4), "-vf", r"select='lt(mod(n\,7)\,4)'", "-vsync", "vfr", "-c:v", "libx264",
            "-bf", "2", "-pix_fmt", "yuv420p", str(v["vfr"]))
    plain = root / "plain.avi"
    _ffmpeg(*_testsrc("160x120", 25, 2), "-c:v", "mpeg4", "-q:v", "4", str(plain))
    v["header_count"] = _patch_avi_length(plain, root / "header_count.avi", +1)
    sliced.unlink()
    plain.unlink()
    return v


def ffmpeg_frames(path: Path) -> tuple[np.ndarray, list[float]]:
    """The frames ``ffmpeg -vsync passthrough -f rawvideo -pix_fmt rgb24`` prints for ``path`` (``(N, H, W,
    3)`` uint8, upright as ffmpeg shows them) and their presentation times in seconds (from ffprobe)."""
    ffmpeg, ffprobe = require_ffmpeg()
    header = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "image2pipe",
                             "-c:v", "ppm", "-"], check=True, capture_output=True).stdout
    width, height = (int(x) for x in header.split(b"\n")[1].split())
    raw = subprocess.run([ffmpeg, "-v", "quiet", "-i", str(path), "-vsync", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
    times = [float(line.split(",")[0]) for line in _run(
        ffprobe, "-v", "quiet", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
        "-of", "csv=p=0", str(path)).split()]
    assert len(times) == len(frames), f"{path}: ffprobe and ffmpeg disagree on the frames"
    return frames, times


def shown_at(times: list[float], t: float) -> int:
    """Index of the frame a player shows at time ``t``: the last one presented at or before it."""
    return max(0, bisect.bisect_right(times, t + 1e-3) - 1)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
