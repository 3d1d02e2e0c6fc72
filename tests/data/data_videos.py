"""Index-carrying test videos for tests/data, encoded with zoo.data.encode.

Each frame carries its own index as 8 black/white vertical bars (bit b of the index = bar b), readable
after lossy compression; see :func:`read_index`.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from zoo.data.encode import encode_video

BITS = 8


def index_frame(i: int, height: int, width: int) -> np.ndarray:
    """A frame whose bars spell ``i`` in binary, with a diagonal colour ramp behind the bottom half."""
    frame = np.empty((height, width, 3), np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    frame[..., 0] = (xs * 255 // max(1, width - 1)).astype(np.uint8)
    frame[..., 1] = (ys * 255 // max(1, height - 1)).astype(np.uint8)
    frame[..., 2] = 128
    bar = width // BITS
    for b in range(BITS):
        frame[: height // 2, b * bar:(b + 1) * bar] = 255 if (i >> b) & 1 else 0
    return frame


def read_index(frame: np.ndarray) -> int:
    """Inverse of :func:`index_frame` (works on frames resized to any size)."""
    h, w = frame.shape[:2]
    bar = w / BITS
    value = 0
    for b in range(BITS):
        x0, x1 = int(b * bar + bar / 4), int((b + 1) * bar - bar / 4)
        if frame[h // 8: h * 3 // 8, x0:max(x1, x0 + 1)].mean() > 128:
            value |= 1 << b
    return value


def index_frames(n: int, height: int, width: int) -> np.ndarray:
    return np.stack([index_frame(i, height, width) for i in range(n)])


def full_decode(path, size=None, interpolation: str = "BILINEAR") -> list[np.ndarray]:
    """Reference: decode every frame with plain PyAV (no seeking, no threads), in display order, resized to
    ``size`` (h, w) by libswscale with ``interpolation``."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            kwargs = {} if size is None else {"width": size[1], "height": size[0], "interpolation": interpolation}
            frames.append((frame.pts, frame.to_ndarray(format="rgb24", **kwargs)))
    frames.sort(key=lambda item: item[0])
    return [f for _, f in frames]


# name -> (codec, extension, fps, num_frames, height, width)
VIDEOS = {
    "h264_30fps": ("h264", ".mp4", 30, 75, 48, 64),
    "mpeg4_25fps": ("mpeg4", ".avi", 25, 50, 60, 80),
    "h264_portrait_15fps": ("h264", ".mkv", 15, 40, 64, 48),
    "mpeg4_12fps_mp4": ("mpeg4", ".mp4", 12, 30, 48, 96),
}


def make_videos(root: Path) -> dict[str, Path]:
    """Constant-frame-rate index videos (see :data:`VIDEOS`), a variable-frame-rate one, and broken files."""
    out = {}
    for name, (codec, ext, fps, n, h, w) in VIDEOS.items():
        kwargs = {"gop": 12} if codec == "h264" else {"gop": 10, "crf": None, "qscale": 2}
        out[name] = encode_video(root / f"{name}{ext}", index_frames(n, h, w), fps=fps, codec=codec, **kwargs)
    # variable frame rate: gaps of 1, 2 or 3 ticks of 1/60 s (pts in 1/90000 s)
    rng = np.random.default_rng(1)
    ticks = np.cumsum(np.concatenate([[0], rng.integers(1, 4, 44)]))
    out["vfr"] = encode_video(root / "vfr.mkv", index_frames(45, 48, 64), fps=30, codec="h264",
                              pts=[int(t) * 1500 for t in ticks], time_base=Fraction(1, 90000), gop=10)
    data = out["h264_portrait_15fps"].read_bytes()
    out["truncated_mkv"] = root / "truncated.mkv"
    out["truncated_mkv"].write_bytes(data[: len(data) // 2])
    data = out["h264_30fps"].read_bytes()
    out["truncated_mp4"] = root / "truncated.mp4"
    out["truncated_mp4"].write_bytes(data[: len(data) // 2])
    out["zero_bytes"] = root / "zero.mp4"
    out["zero_bytes"].write_bytes(b"")
    out["not_a_video"] = root / "notes.mp4"
    out["not_a_video"].write_text("this is not a video\n" * 50)
    return out
