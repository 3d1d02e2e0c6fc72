"""Video metadata: frame rate, display size and the presentation time of every frame (demuxed, not decoded).

The frame list is what the ffmpeg CLI presents: packets an MP4 edit list marks as discarded (the frames
before the cut of a stream-copied trim) are left out, zero-size AVI chunks ("the previous frame again", as
capture tools write for dropped frames) are kept as repeated frames at their own times, and the container's
frame count is only a hint. The first frame is decoded to read the display rotation, so ``width`` and
``height`` are the upright size a player shows.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from zoo.data.errors import VideoError, VideoWarning
from zoo.data.orientation import display_size, normalise_rotation


@dataclass
class VideoInfo:
    """What the sampler and decoder need to know about one video.

    ``frame_times`` are the presentation times (seconds, ascending) of the frames in display order, taken
    from the demuxed packets; frame ``i`` of the sampler is the frame shown at ``frame_times[i]``. ``None``
    means "constant frame rate assumed" (``i / fps`` after the stream's start time). ``width`` and ``height``
    are the displayed size, after ``rotation`` (counter-clockwise degrees, 0/90/180/270, applied to every
    decoded frame). ``repeated`` lists the frames that show the previous frame again (zero-size AVI chunks).
    ``warnings`` are ``"kind: detail"`` texts (see :class:`zoo.data.errors.VideoWarning`) for things a report
    should mention about a video that is nevertheless used.
    """

    path: str
    fps: float
    num_frames: int
    duration: float
    width: int
    height: int
    frame_times: list[float] | None = None
    rotation: int = 0
    repeated: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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


class _RotationReader:
    """Feeds packets to a decoder until the first frame comes out, and reads its display rotation."""

    MAX_PACKETS = 300  # a stream whose first frame needs more packets than this is left unrotated

    def __init__(self, stream):
        self.stream, self.fed, self.degrees = stream, 0, None

    @property
    def done(self) -> bool:
        return self.degrees is not None or self.fed >= self.MAX_PACKETS

    def feed(self, packet) -> None:
        self.fed += 1
        try:
            frames = self.stream.decode(packet)
        except av.FFmpegError:  # a damaged first packet: try the next ones
            return
        if frames:
            self.degrees = frames[0].rotation or 0

    def finish(self) -> float:
        """The rotation in degrees (0 when no frame decoded); drains the decoder if still needed."""
        if self.degrees is None and self.fed:
            try:
                frames = self.stream.decode(None)
                self.degrees = frames[0].rotation if frames else 0
            except av.FFmpegError:
                self.degrees = 0
        return self.degrees or 0


def display_rotation(path: str | os.PathLike) -> int:
    """The display rotation a player applies to ``path``: 0, 90, 180 or 270 degrees counter-clockwise (0 for
    an angle that is not a right angle, which is not applied). Decodes only the first frame."""
    container, stream = open_video(path)
    with container:
        return normalise_rotation(_demux(container, stream, all_packets=False).rotation) or 0


@dataclass
class _Packets:
    """What demuxing a video stream found."""

    pts: list[int] = field(default_factory=list)
    repeated_pts: set[int] = field(default_factory=set)
    discarded: int = 0
    stopped: str | None = None
    rotation: float = 0.0


def _demux(container, stream, all_packets: bool) -> _Packets:
    """Packet timestamps of the presented frames (unsorted) and the rotation of the first decoded frame.

    Without ``all_packets`` it stops as soon as the rotation is known (header-only probing).
    """
    found = _Packets()
    rotation = _RotationReader(stream)
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                if packet.pts is not None:  # a zero-size chunk a demuxer passes on: the previous frame again
                    found.pts.append(packet.pts)
                    found.repeated_pts.add(packet.pts)
                continue  # else the flush packet at the end
            if not rotation.done:
                rotation.feed(packet)
            elif not all_packets:
                break
            if packet.is_discard:  # before an edit list's start: the decoder drops its frame too
                found.discarded += 1
                continue
            found.pts.append(packet.pts)
    except av.FFmpegError as exc:
        found.stopped = str(exc)
    found.rotation = rotation.finish()
    return found


def _decoded_pts(container, stream) -> tuple[list[int], str | None]:
    """Timestamps of the decoded frames, for streams whose packets carry none (e.g. raw elementary streams)."""
    pts, stopped = [], None
    container.seek(0)
    try:
        for frame in container.decode(stream):
            if frame.pts is not None:
                pts.append(frame.pts)
    except av.FFmpegError as exc:
        stopped = str(exc)
    return pts, stopped


def _fill_avi_gaps(pts: list[int], repeated: set[int]) -> None:
    """AVI counts time in frames: a gap between packets is a run of zero-size chunks the demuxer skipped."""
    have = set(pts)
    for p in range(pts[0], pts[-1]):
        if p not in have:
            pts.append(p)
            repeated.add(p)
    pts.sort()


def probe_video(path: str | os.PathLike, exact: bool = True) -> VideoInfo:
    """Read a video's metadata; with ``exact`` (default) list every frame's timestamp by demuxing.

    Demuxing reads the packets without decoding them (fast); only the first frame is decoded, for its display
    rotation. ``exact=False`` only reads the header and that first frame (``frame_times`` is ``None``,
    ``num_frames`` estimated). Raises :class:`VideoError` for missing, empty, unreadable or truncated files;
    things worth reporting about a usable video go to ``VideoInfo.warnings``.
    """
    container, stream = open_video(path)
    with container:
        coded_w, coded_h = stream.codec_context.width, stream.codec_context.height
        fps = _stream_fps(stream)
        tb = stream.time_base
        declared_frames = stream.frames
        declared = float(stream.duration * tb) if stream.duration else (
            container.duration / av.time_base if container.duration else None)
        if not coded_w or not coded_h:
            raise VideoError(path, "undecodable", "video stream has no frame size")
        packets = _demux(container, stream, all_packets=exact)
        warnings: list[str] = []
        rotation = normalise_rotation(packets.rotation)
        if rotation is None:
            warnings.append(str(VideoWarning(path, "rotated", f"display rotation of {packets.rotation:g} degrees "
                                                              "is not a multiple of 90; not applied")))
            rotation = 0
        elif rotation:
            warnings.append(str(VideoWarning(path, "rotated", f"display rotation of {rotation} degrees applied "
                                                              f"(stored {coded_w}x{coded_h})")))
        width, height = display_size(coded_w, coded_h, rotation)
        if not exact:
            if not fps or not (declared_frames or declared):
                raise VideoError(path, "undecodable", "no frame rate or length in the header")
            num = declared_frames or int(round(declared * fps))
            if num <= 0:
                raise VideoError(path, "empty", "no video frames")
            return VideoInfo(str(path), fps, num, num / fps, width, height, None, rotation, [], warnings)
        pts, stopped = packets.pts, packets.stopped
        if any(p is None for p in pts):  # e.g. raw streams: only decoding tells the times
            pts, stopped = _decoded_pts(container, stream)
            packets.repeated_pts.clear()
        is_avi = container.format.name == "avi"
    pts.sort()
    if pts and is_avi:
        _fill_avi_gaps(pts, packets.repeated_pts)
    if not pts:
        if stopped:
            raise VideoError(path, "undecodable", stopped)
        raise VideoError(path, "empty", "no video frames")
    times = [float(p * tb) for p in pts]
    repeated = [i for i, p in enumerate(pts) if p in packets.repeated_pts]
    n = len(times)
    if not fps:
        fps = (n - 1) / (times[-1] - times[0]) if n > 1 and times[-1] > times[0] else 1.0
    duration = times[-1] - times[0] + 1.0 / fps
    if declared and duration < declared - max(0.5, 0.1 * declared):
        raise VideoError(path, "truncated", f"frames cover {duration:.2f} s of {declared:.2f} s"
                         + (f" (reading stopped: {stopped})" if stopped else ""))
    if stopped:
        warnings.append(str(VideoWarning(path, "demux_error", f"reading stopped after {n} frames: {stopped}")))
    if repeated:
        warnings.append(str(VideoWarning(path, "repeated_frames", f"{len(repeated)} of {n} frames repeat the "
                                                                  "previous one (zero-size chunks)")))
    if declared_frames and declared_frames != n + packets.discarded:
        warnings.append(str(VideoWarning(path, "frame_count", f"the header declares {declared_frames} frames, "
                                                              f"{n} are presented")))
    return VideoInfo(str(path), fps, n, duration, width, height, times, rotation, repeated, warnings)
