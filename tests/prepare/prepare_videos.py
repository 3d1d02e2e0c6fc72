"""Time-coded raw videos for tests/prepare.

Every frame shows its source frame number as a 2 x 5 grid of black/white blocks (bit b = block b, row-major),
which survives scaling and lossy re-encoding; :func:`read_code` reads it back.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from zoo.data.encode import encode_video

ROWS, COLS = 2, 5


def code_frame(i: int, height: int, width: int) -> np.ndarray:
    """An RGB frame whose blocks spell ``i`` (0..1023) in binary."""
    frame = np.zeros((height, width, 3), np.uint8)
    for bit in range(ROWS * COLS):
        if i >> bit & 1:
            r, c = divmod(bit, COLS)
            frame[r * height // ROWS:(r + 1) * height // ROWS, c * width // COLS:(c + 1) * width // COLS] = 255
    return frame


def read_code(frame: np.ndarray) -> int:
    """The number spelled by a frame made by :func:`code_frame` (after any resize)."""
    h, w = frame.shape[:2]
    value = 0
    for bit in range(ROWS * COLS):
        r, c = divmod(bit, COLS)
        cell = frame[r * h // ROWS:(r + 1) * h // ROWS, c * w // COLS:(c + 1) * w // COLS]
        ch, cw = cell.shape[:2]
        if cell[ch // 4:3 * ch // 4 + 1, cw // 4:3 * cw // 4 + 1].mean() > 127:
            value |= 1 << bit
    return value


def make_source(path: Path, times: list[Fraction], width: int, height: int, codec: str = "h264",
                fps: float = 25) -> list[Fraction]:
    """Encode frames ``0..len(times)-1`` shown at ``times`` (seconds); returns the stored times.

    Constant-rate times (``i / fps``) are written without explicit timestamps. The returned times are the
    ones the container kept (Matroska rounds to milliseconds), in frame order.
    """
    frames = [code_frame(i, height, width) for i in range(len(times))]
    extra = {"crf": None, "qscale": 2} if codec == "mpeg4" else {}
    if times == cfr_times(len(times), Fraction(fps).limit_denominator(1001)):
        encode_video(path, frames, fps=fps, codec=codec, **extra)
    else:
        tb = Fraction(1, 90000)
        encode_video(path, frames, fps=fps, codec=codec, pts=[int(t / tb) for t in times], time_base=tb, **extra)
    return stored_times(path)


def stored_times(path: Path) -> list[Fraction]:
    """Exact presentation times (seconds from the container start) of the frames of ``path``."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        origin = Fraction(c.start_time or 0, av.time_base)
        return sorted(p.pts * s.time_base - origin for p in c.demux(s) if p.size and p.pts is not None)


def cfr_times(n: int, fps: Fraction) -> list[Fraction]:
    return [i / fps for i in range(n)]


def make_source_with_audio(path: Path, seconds: int, width: int = 64, height: int = 48, fps: int = 25) -> None:
    """An mp4 with time-coded video and a 440 Hz AAC tone."""
    rate = 16000
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=rate, layout="mono")
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(code_frame(i, height, width), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in v.encode(frame):
                out.mux(packet)
        t = np.arange(seconds * rate) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start:start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in a.encode(frame):
                out.mux(packet)
        for stream in (v, a):
            for packet in stream.encode(None):
                out.mux(packet)


def expected_codes(source_times: list[Fraction], start: float, fps: float, count: int) -> list[int]:
    """Source frame shown by each output frame: the latest with time <= start + k / fps (else the first)."""
    fps = Fraction(fps).limit_denominator(1001)
    out = []
    for k in range(count):
        t = Fraction(start) + k / fps
        shown = [i for i, s in enumerate(source_times) if s <= t]
        out.append(shown[-1] if shown else 0)
    return out


def decode_output(path: Path):
    """(stream average rate, width, height, [codes], has audio, audio duration s) of an output video."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate, w, h = s.average_rate, s.codec_context.width, s.codec_context.height
        codes = [read_code(f.to_ndarray(format="rgb24")) for f in c.decode(s)]
    with av.open(str(path)) as c:
        audio = bool(c.streams.audio)
        audio_seconds = sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate if audio else 0.0
    return rate, w, h, codes, audio, audio_seconds
