"""Encode RGB frames to a video file with PyAV (H.264 or MPEG-4), atomically.

Used by the synthetic dataset, by ``zoo-prepare trim`` and by the tests that need real encoded videos.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import numpy as np

from zoo._io import atomic_path

# libx264's macroblock-tree rate control reads uninitialised stack memory in the build PyAV 18 ships (valgrind
# shows it; Debian's libx264 164 does not), so one input encoded in two processes could give other pictures: 7 to
# 13 of the synthetic dataset's 72 videos changed over 5 generations. Without it, every encode repeats exactly;
# at the same crf the file is about twice as large (and ~4 dB closer to the input).
X264_REPEATABLE = "mbtree=0"

#: codec name accepted by :func:`encode_video` -> PyAV encoder name
ENCODERS = {"h264": "libx264", "libx264": "libx264", "mpeg4": "mpeg4", "vp9": "libvpx-vp9", "mjpeg": "mjpeg"}


class VideoWriter:
    """Streamed writer: ``with VideoWriter(path, fps, width, height) as w: w.write(frame)``.

    Frames are ``(H, W, 3)`` uint8 RGB arrays. ``pts`` (in units of ``time_base``) may be given per frame
    to write variable-frame-rate video. The file appears under ``path`` only when the writer closes
    without error.
    """

    #: an H.264 encode gives the same pictures in every process (:data:`X264_REPEATABLE`); a subclass that sets
    #: ``False`` keeps libx264's default rate control, whose ``crf`` means what ffmpeg's ``-crf`` does
    repeatable = True

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int, codec: str = "h264",
                 crf: int | None = 18, qscale: int | None = None, gop: int | None = None,
                 time_base: Fraction | None = None, threads: int = 0):
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.width, self.height = int(width), int(height)
        self.codec = ENCODERS.get(codec, codec)
        self.crf, self.qscale, self.gop = crf, qscale, gop
        self.time_base = time_base
        self.threads = threads
        self._atomic = None
        self._container = None
        self._stream = None
        self._index = 0

    def __enter__(self) -> "VideoWriter":
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        fmt = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}.get(
            self.path.suffix.lower())
        self._container = av.open(str(tmp), mode="w", format=fmt)
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        options = {}
        if self.codec == "libx264":
            if self.crf is not None:
                options["crf"] = str(self.crf)
            options["preset"] = "veryfast"
            if self.repeatable:
                options["x264-params"] = X264_REPEATABLE
        elif self.codec == "mpeg4":
            # constant quantiser (ffmpeg's -q:v); the library default is a low 200 kb/s bitrate
            qscale = 2 if self.qscale is None else self.qscale
            stream.codec_context.qscale = qscale
            options["qscale"] = str(qscale)
        if self.gop is not None:
            stream.codec_context.gop_size = self.gop
        if self.time_base is not None:
            stream.codec_context.time_base = self.time_base
            stream.time_base = self.time_base
        # frame threads, as the ffmpeg CLI uses (PyAV's default makes libx264 use slower sliced threads)
        stream.codec_context.thread_type = "AUTO"
        if self.threads:
            stream.codec_context.thread_count = self.threads
        stream.options = options
        self._stream = stream
        return self

    @property
    def container(self) -> av.container.OutputContainer:
        """The open output container (e.g. to add an audio stream inside the ``with`` block)."""
        return self._container

    @property
    def stream(self) -> av.video.stream.VideoStream:
        """The video stream being encoded."""
        return self._stream

    def encode_frame(self, frame: av.VideoFrame) -> None:
        """Encode and mux an ``av.VideoFrame`` that already has its pts and time base."""
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Encode one ``(H, W, 3)`` uint8 RGB frame (``pts`` in the stream's time base, optional)."""
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
        if pts is not None:
            vf.pts = int(pts)
            vf.time_base = self.time_base
        else:
            vf.pts = self._index
            vf.time_base = Fraction(1, 1) / self.fps
        self._index += 1
        self.encode_frame(vf)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
            self._atomic.__exit__(exc_type, exc, tb)
        return False


def encode_video(path: str | os.PathLike, frames: Sequence[np.ndarray] | np.ndarray | Iterable[np.ndarray],
                 fps: float = 30.0, codec: str = "h264", pts: Sequence[int] | None = None,
                 time_base: Fraction | None = None, **kwargs) -> Path:
    """Write ``frames`` (``T x H x W x 3`` uint8 RGB) to ``path``; returns the path.

    For variable frame rate pass ``pts`` (one integer per frame) in ``time_base`` units
    (default 1/90000 when ``pts`` is given).
    """
    frames = list(frames)
    if not frames:
        raise ValueError(f"{path}: no frames to encode")
    h, w = frames[0].shape[:2]
    if pts is not None and time_base is None:
        # MPEG-4 part 2 allows time-base denominators up to 65535
        time_base = Fraction(1, 60000) if ENCODERS.get(codec, codec) == "mpeg4" else Fraction(1, 90000)
    with VideoWriter(path, fps, w, h, codec=codec, time_base=time_base, **kwargs) as writer:
        for i, frame in enumerate(frames):
            writer.write(frame, None if pts is None else pts[i])
    return Path(path)
