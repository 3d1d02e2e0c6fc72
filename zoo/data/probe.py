"""Video metadata: frame rate, size and the presentation time of every frame (demuxed, not decoded)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from zoo.data.errors import VideoError


@dataclass
class VideoInfo:
    """What the sampler and decoder need to know about one video.

    ``frame_times`` are the presentation times (seconds, ascending) of the frames in display order, taken
    from the demuxed packets; frame ``i`` of the sampler is the frame shown at ``frame_times[i]``. ``None``
    means "constant frame rate assumed" (``i / fps`` after the stream's start time).
    """

    path: str
    fps: float
    num_frames: int
    duration: float
    width: int
    height: int
    frame_times: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VideoInfo":
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def open_video(path: str | os.PathLike):
    """Open ``path`` with PyAV and return ``(container, video_stream)``; raises :class:`VideoError`.

    The caller closes the container.
    """
    p = Path(path)
    if not p.is_file():
        raise VideoError(path, "missing", "no such file")
    if p.stat().st_size == 0:
        raise VideoError(path, "empty", "zero bytes")
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except av.FFmpegError as exc:
        if _is_incomplete_mp4(p):
            raise VideoError(path, "truncated", "MP4/MOV file cut short (its index is missing or incomplete)"
                             ) from exc
        raise VideoError(path, "undecodable", str(exc)) from exc
    if not container.streams.video:
        container.close()
        raise VideoError(path, "undecodable", "no video stream")
    return container, container.streams.video[0]


def _is_incomplete_mp4(path: Path) -> bool:
    """An ISO-BMFF file (starts with ``ftyp``) whose top-level boxes run past the end or lack ``moov``."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos, kinds = 0, []
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(16)
            box_size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if box_size == 1 and len(header) == 16:
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8:
                break
            kinds.append(kind)
            if pos + box_size > size:
                return kinds[0] == b"ftyp"
            pos += box_size
    return bool(kinds) and kinds[0] == b"ftyp" and b"moov" not in kinds


def _stream_fps(stream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return None


def _demux_frame_times(container, stream, path) -> tuple[list[float], str | None]:
    """Presentation times of all video packets (sorted); second item: why demuxing stopped early, if it did."""
    tb = stream.time_base
    pts: list[int] = []
    missing_pts = False
    stopped = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet at the end
                continue
            if packet.is_discard:  # before an edit list's start: the decoder drops it too
                continue
            if packet.pts is None:
                missing_pts = True
                break
            pts.append(packet.pts)
    except av.FFmpegError as exc:
        stopped = str(exc)
    if missing_pts:  # e.g. raw streams: only decoding tells the times
        pts = []
        container.seek(0)
        try:
            for frame in container.decode(stream):
                if frame.pts is not None:
                    pts.append(frame.pts)
        except av.FFmpegError as exc:
            stopped = str(exc)
    pts.sort()
    return [float(p * tb) for p in pts], stopped


def probe_video(path: str | os.PathLike, exact: bool = True) -> VideoInfo:
    """Read a video's metadata; with ``exact`` (default) list every frame's timestamp by demuxing.

    Demuxing reads the packets without decoding them (fast). ``exact=False`` only reads the header
    (``frame_times`` is ``None``, ``num_frames`` estimated). Raises :class:`VideoError` for missing, empty,
    unreadable or truncated files.
    """
    container, stream = open_video(path)
    with container:
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = _stream_fps(stream)
        tb = stream.time_base
        declared = float(stream.duration * tb) if stream.duration else (
            container.duration / av.time_base if container.duration else None)
        if not width or not height:
            raise VideoError(path, "undecodable", "video stream has no frame size")
        if not exact:
            if not fps or not (stream.frames or declared):
                raise VideoError(path, "undecodable", "no frame rate or length in the header")
            num = stream.frames or int(round(declared * fps))
            if num <= 0:
                raise VideoError(path, "empty", "no video frames")
            return VideoInfo(str(path), fps, num, num / fps, width, height, None)
        times, stopped = _demux_frame_times(container, stream, path)
    if not times:
        if stopped:
            raise VideoError(path, "undecodable", stopped)
        raise VideoError(path, "empty", "no video frames")
    n = len(times)
    if not fps:
        fps = (n - 1) / (times[-1] - times[0]) if n > 1 and times[-1] > times[0] else 1.0
    duration = times[-1] - times[0] + 1.0 / fps
    if stopped:
        raise VideoError(path, "truncated", f"demuxing stopped after {n} frames: {stopped}")
    if stream.frames and n < stream.frames:
        raise VideoError(path, "truncated", f"{n} of {stream.frames} frames present")
    if declared and duration < declared - max(0.5, 0.1 * declared):
        raise VideoError(path, "truncated", f"frames cover {duration:.2f} s of {declared:.2f} s")
    return VideoInfo(str(path), fps, n, duration, width, height, times)
