"""Videos made the way users make them, with the ffmpeg CLI (not with the library under test), and the frames
the ffmpeg CLI presents for them (``-vsync passthrough``, rgb24) as the reference. Where no encoder here writes
a kind of packet (TechSmith's "no change" packets), the packets are made by hand and muxed with PyAV.

The ffmpeg CLI is a test requirement: ``.ci/run`` installs Debian's package when it is missing, so its absence
is a failure here, never a skip.
"""
from __future__ import annotations

import bisect
import fractions
import random
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import av
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
    _, ffprobe = require_ffmpeg()
    frames = ffmpeg_pictures(path)
    times = [float(line.split(",")[0]) if not line.startswith("N/A") else float("nan") for line in _run(
        ffprobe, "-v", "quiet", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
        "-of", "csv=p=0", str(path)).split()]
    assert len(times) == len(frames), f"{path}: ffprobe and ffmpeg disagree on the frames"
    return frames, times


def shown_at(times: list[float], t: float) -> int:
    """Index of the frame a player shows at time ``t``: the last one presented at or before it."""
    return max(0, bisect.bisect_right(times, t + 1e-3) - 1)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


#: name -> a class of video whose frames once differed from ffmpeg's (the keys of :func:`make_class_videos`)
CLASSES = {
    "bframes_avi": "MPEG-4 AVI with B-frames (AVI stores no presentation timestamps)",
    "packed_avi": "Xvid AVI with packed B-frames (one chunk holds two pictures, then a 'not coded' chunk)",
    "pts_equal_dts": "H.264 MP4 with B-frames whose pts were set to its dts (setts), as OpenCV writes them",
    "transposed": "MP4 whose track header holds the transposing display matrix [0 1; 1 0]",
    "audio_longer": "H.264 MP4 of 3 s with 6 s of AAC audio (bestvideo+bestaudio merges)",
    "cut_download": "MP4 (index first) cut at 60 % of its bytes, as a partial download leaves it",
    "ts_mid_gop": "MPEG-TS cut mid-GOP: the first packets reference pictures that are not there",
    "raw_h264": "raw H.264 elementary stream (.264)",
    "raw_m2v": "raw MPEG-2 elementary stream (.m2v)",
    "size_change": "MPEG-TS whose second half is 192x144 after 160x120 (two streams concatenated)",
    "shared_timestamps": "H.264 MKV with B-frames whose last 3 packets share one timestamp (setts)",
    "no_change_end": "TechSmith screen capture (TSCC AVI) whose last 25 packets are 2-byte 'no change' packets, "
                     "which give no picture (hand-made packets muxed with PyAV)",
    "no_change_qtrle": "QuickTime Animation whose last second is a still picture: 7-byte 'no change' packets "
                       "that give a copy of the picture",
}


def tscc_picture(rgb: np.ndarray) -> bytes:
    """A TechSmith Camtasia (TSCC, 24 bits) packet holding the whole picture ``rgb`` (``(H, W, 3)`` uint8): zlib
    over Windows-RLE codes, bottom row first, each row as literal runs (``00 n`` and n BGR pixels), ``00 00``
    ending a row and ``00 01`` the picture."""
    codes = bytearray()
    for row in rgb[::-1]:
        bgr = row[:, ::-1].tobytes()
        for x in range(0, len(row), 255):
            n = min(255, len(row) - x)
            assert n >= 3, "a literal run holds 3 pixels or more"
            codes += bytes([0, n]) + bgr[3 * x:3 * (x + n)]
        codes += b"\x00\x00"
    codes[-2:] = b"\x00\x01"
    return zlib.compress(bytes(codes))


#: a TSCC "no change" packet: 2 bytes that are no zlib stream, which ffmpeg's decoder takes for an empty
#: picture and answers with no picture at all
TSCC_NO_CHANGE = b"\x00\x00"


def write_tscc_avi(path: Path, packets: int, no_change, size: tuple[int, int] = (64, 48), rate: int = 25,
                   keyframe_every: int = 10) -> Path:
    """An AVI screen capture in TSCC at ``rate`` fps: packet ``i`` is the 2-byte "no change" packet for ``i`` in
    ``no_change``, else a whole picture of a pattern that moves every frame (every ``keyframe_every``-th marked
    a keyframe). No encoder here writes TSCC: the packets are made by hand and muxed with PyAV, one per frame
    time (pts = dts = i, duration 1), so the container counts ``packets`` frames."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_mux_stream("tscc", rate=rate, width=width, height=height)
        stream.time_base = fractions.Fraction(1, rate)
        for i in range(packets):
            if i in no_change:
                data = TSCC_NO_CHANGE
            else:
                data = tscc_picture(np.stack([(xx * 4 + i * 9) % 256, (yy * 5 + i * 13) % 256,
                                              ((xx + yy) * 2 + i * 31) % 256], -1).astype(np.uint8))
            packet = av.Packet(data)
            packet.pts = packet.dts = i
            packet.duration, packet.time_base, packet.stream = 1, stream.time_base, stream
            packet.is_keyframe = i % keyframe_every == 0 and i not in no_change
            container.mux(packet)
    return path


def set_display_matrix(src: Path, dst: Path, a: int, b: int, c: int, d: int) -> Path:
    """Copy an MP4 and write the display matrix ``[a b; c d]`` (entries -1, 0, 1) into its video track header
    (``tkhd``), as an editor or a front camera does."""
    data = bytearray(src.read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    # after version/flags, creation/modification time, track id, reserved, duration (v0: 4-byte fields, v1:
    # 8-byte times and duration), 8 reserved bytes, layer, alternate group, volume, 2 reserved bytes
    at += 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    matrix = [a << 16, b << 16, 0, c << 16, d << 16, 0, 0, 0, 1 << 30]
    assert struct.unpack(">9i", data[at:at + 36])[-1] == 1 << 30, f"{src}: no track matrix where expected"
    data[at:at + 36] = struct.pack(">9i", *matrix)
    dst.write_bytes(bytes(data))
    return dst


def make_class_videos(root: Path) -> dict[str, Path]:
    """Every video of :data:`CLASSES`, made under ``root`` with the ffmpeg CLI (and byte cuts)."""
    root.mkdir(parents=True, exist_ok=True)
    v = {name: root / f"{name}{ext}" for name, ext in (
        ("bframes_avi", ".avi"), ("packed_avi", ".avi"), ("pts_equal_dts", ".mp4"), ("transposed", ".mp4"),
        ("audio_longer", ".mp4"), ("cut_download", ".mp4"), ("ts_mid_gop", ".ts"), ("raw_h264", ".264"),
        ("raw_m2v", ".m2v"), ("size_change", ".ts"), ("shared_timestamps", ".mkv"), ("no_change_end", ".avi"),
        ("no_change_qtrle", ".mov"))}
    _ffmpeg(*_testsrc("160x120", 25, 4), "-c:v", "mpeg4", "-bf", "2", "-q:v", "4", str(v["bframes_avi"]))
    _ffmpeg(*_testsrc("160x120", 25, 4), "-c:v", "libxvid", "-bf", "2", "-q:v", "4", str(v["packed_avi"]))
    h264 = ["-c:v", "libx264", "-bf", "3", "-pix_fmt", "yuv420p"]
    source = root / "source.mp4"
    _ffmpeg(*_testsrc("160x120", 25, 4), *h264, "-g", "50", str(source))
    _ffmpeg("-i", str(source), "-c", "copy", "-bsf:v", "setts=pts=DTS", str(v["pts_equal_dts"]))
    set_display_matrix(source, v["transposed"], 0, 1, 1, 0)
    _ffmpeg("-i", str(source), "-c", "copy", "-bsf:v", r"setts=pts=if(gte(N\,97)\,PREV_OUTPTS\,PTS)"
            r":dts=if(gte(N\,97)\,PREV_OUTDTS\,DTS)", str(v["shared_timestamps"]))
    _ffmpeg(*_testsrc("160x120", 25, 3), "-f", "lavfi", "-i", "sine=duration=6", *h264, "-c:a", "aac",
            str(v["audio_longer"]))
    whole = root / "whole.mp4"
    _ffmpeg(*_testsrc("160x120", 25, 4), *h264, "-g", "25", "-movflags", "+faststart", str(whole))
    data = whole.read_bytes()
    v["cut_download"].write_bytes(data[:len(data) * 6 // 10])
    ts = root / "whole.ts"
    _ffmpeg(*_testsrc("160x120", 25, 4), *h264, "-g", "50", str(ts))
    data = ts.read_bytes()
    v["ts_mid_gop"].write_bytes(data[188 * (len(data) // 188 * 3 // 10):])  # whole TS packets, from 30 %
    _ffmpeg(*_testsrc("160x120", 25, 3), *h264, "-g", "25", str(v["raw_h264"]))
    _ffmpeg(*_testsrc("160x120", 25, 3), "-c:v", "mpeg2video", "-bf", "2", "-g", "12", str(v["raw_m2v"]))
    first, second = root / "first.ts", root / "size_change_second_half.ts"  # the second half is kept
    _ffmpeg(*_testsrc("160x120", 25, 2), *h264, str(first))
    _ffmpeg(*_testsrc("192x144", 25, 2), *h264, "-output_ts_offset", "2", str(second))
    v["size_change"].write_bytes(first.read_bytes() + second.read_bytes())
    write_tscc_avi(v["no_change_end"], 55, range(30, 55))
    _ffmpeg(*_testsrc("64x48", 25, 1), "-vf", "tpad=stop_mode=clone:stop_duration=1", "-c:v", "qtrle",
            str(v["no_change_qtrle"]))
    for scratch in (source, whole, ts, first):
        scratch.unlink()
    return v


def ffmpeg_pictures(path: Path, *args: str) -> np.ndarray:
    """Every picture ``ffmpeg -vsync passthrough -f rawvideo -pix_fmt rgb24`` prints for ``path`` (``args``
    go before the output, e.g. a filter), ``(N, H, W, 3)`` uint8, at the size of its first picture."""
    ffmpeg, _ = require_ffmpeg()
    header = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), *args, "-frames:v", "1", "-f", "image2pipe",
                             "-c:v", "ppm", "-"], check=True, capture_output=True).stdout
    width, height = (int(x) for x in header.split(b"\n")[1].split())
    raw = subprocess.run([ffmpeg, "-v", "quiet", "-i", str(path), "-vsync", "passthrough", *args, "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)
