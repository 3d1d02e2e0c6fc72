"""Video metadata: frame rate, display size and the presentation time of every frame (demuxed, not decoded).

The frame list is what the ffmpeg CLI presents (``ffmpeg -vsync passthrough``): packets an MP4 edit list marks
as discarded (the frames before the cut of a stream-copied trim) are left out, zero-size AVI chunks ("the
previous frame again", as capture tools write for dropped frames) are kept as repeated frames at their own
times, and the container's frame count is only a hint. Tiny "no change" packets (as screen-capture codecs write
them) are frames at their own times, in the middle and at the very end: some decoders answer them with a copy of
the picture, others with no picture at all (ffmpeg then prints none), and either way the previous picture stays
on screen (:func:`zoo.data.decode.decode_frames` shows it). The first frame is decoded to read its size and
display orientation, so ``width`` and ``height`` are the upright size a player shows.

Most videos are listed from their packets alone (``frame_order == "pts"``): sorted packet timestamps are the
frames in display order. Where packet timestamps cannot say that -- timestamps in decode order on a stream with
B-frames (MPEG-4 AVIs, an MP4 whose pts equal its dts), missing or repeated timestamps, raw elementary streams,
a stream that starts without a keyframe -- the video is decoded once, as ffmpeg does, and frame ``i`` is the
decoder's ``i``-th picture, at ffmpeg's best-effort timestamp (``frame_order == "decoder"``; see
:mod:`zoo.data.decoder`).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from zoo.data.decoder import DecodeReport, decoded_frames, increasing_times, stamped_frames
from zoo.data.errors import VideoError, VideoWarning
from zoo.data.orientation import display_size, matrix_orientation, normalise_rotation
from zoo.guards import file_kind


@dataclass
class VideoInfo:
    """What the sampler and decoder need to know about one video.

    ``frame_times`` are the presentation times (seconds, ascending) of the frames in display order, taken
    from the demuxed packets; frame ``i`` of the sampler is the frame shown at ``frame_times[i]``. ``None``
    means "constant frame rate assumed" (``i / fps`` after the stream's start time). ``width`` and ``height``
    are the displayed size of the first frame, after ``rotation`` (counter-clockwise degrees, 0/90/180/270)
    and ``mirror`` (a left-right flip after the turn), both applied to every decoded frame; later frames of
    another size are scaled to it, as the ffmpeg CLI does. ``repeated`` lists the frames that show the
    previous frame again (zero-size AVI chunks). ``frame_order`` says how decoding finds frame ``i``: by its
    timestamp (``"pts"``, seeking allowed) or as the decoder's ``i``-th picture from the start
    (``"decoder"``).
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
    mirror: bool = False
    frame_order: str = "pts"

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
    kind = file_kind(p)
    if kind is not None:   # a FIFO or a device is never opened: it would block, or never end
        raise VideoError(path, "missing", "no such file" if kind == "missing" else f"is {kind}, not a video file")
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


@dataclass
class FirstFrame:
    """The first decoded frame's stored size and display orientation (``rotation`` may be any angle)."""

    width: int = 0
    height: int = 0
    rotation: float = 0.0
    mirror: bool = False


def first_frame(frame: av.VideoFrame) -> FirstFrame:
    """Size and display matrix of a decoded frame."""
    matrix = None
    for data in frame.side_data:
        if data.type.name == "DISPLAYMATRIX":
            matrix = bytes(data)
    rotation, mirror = matrix_orientation(matrix)
    return FirstFrame(frame.width, frame.height, rotation, mirror)


class _FirstFrameReader:
    """Feeds packets to a decoder until the first frame comes out, and reads its size and orientation."""

    MAX_PACKETS = 300  # a stream whose first frame needs more packets than this keeps its header size

    def __init__(self, stream):
        self.stream, self.fed, self.found = stream, 0, None

    @property
    def done(self) -> bool:
        return self.found is not None or self.fed >= self.MAX_PACKETS

    def feed(self, packet) -> None:
        self.fed += 1
        try:
            frames = self.stream.decode(packet)
        except av.FFmpegError:  # a damaged first packet: try the next ones
            return
        if frames:
            self.found = first_frame(frames[0])

    def finish(self) -> FirstFrame | None:
        """What the first frame showed (``None`` when no frame decoded); drains the decoder if still needed."""
        if self.found is None and self.fed:
            try:
                frames = self.stream.decode(None)
            except av.FFmpegError:
                frames = []
            if frames:
                self.found = first_frame(frames[0])
        return self.found


def display_orientation(path: str | os.PathLike) -> tuple[int, bool]:
    """The display orientation a player applies to ``path``: ``(rotation, mirror)``, the counter-clockwise
    turn (0, 90, 180 or 270; 0 for an angle that is not a right angle, which is not applied) and whether a
    left-right flip follows it. Decodes only the first frame."""
    container, stream = open_video(path)
    with container:
        first = _demux(container, stream, all_packets=False).first or FirstFrame()
    rotation = normalise_rotation(first.rotation)
    return (0, False) if rotation is None else (rotation, first.mirror)


def display_rotation(path: str | os.PathLike) -> int:
    """The display rotation a player applies to ``path``: 0, 90, 180 or 270 degrees counter-clockwise (0 for
    an angle that is not a right angle, which is not applied). Decodes only the first frame."""
    return display_orientation(path)[0]


@dataclass
class _Packets:
    """What demuxing a video stream found (packets in decode order)."""

    pts: list[int] = field(default_factory=list)
    dts: list[int | None] = field(default_factory=list)
    durations: dict[int, int] = field(default_factory=dict)
    repeated_pts: set[int] = field(default_factory=set)
    discarded: int = 0
    first_is_key: bool = True
    corrupt_tail: int = 0
    stopped: str | None = None
    first: FirstFrame | None = None


def _demux(container, stream, all_packets: bool) -> _Packets:
    """Packet timestamps of the presented frames (decode order) and the first decoded frame's size and
    orientation. Without ``all_packets`` it stops as soon as the first frame is known (header-only probing).
    """
    found = _Packets()
    reader = _FirstFrameReader(stream)
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                if packet.pts is not None:  # a zero-size chunk a demuxer passes on: the previous frame again
                    found.pts.append(packet.pts)
                    found.dts.append(packet.dts)
                    found.repeated_pts.add(packet.pts)
                continue  # else the flush packet at the end
            if not reader.done:
                reader.feed(packet)
            elif not all_packets:
                break
            if packet.is_discard:  # before an edit list's start: the decoder drops its frame too
                found.discarded += 1
                continue
            if not found.pts and not found.repeated_pts:
                found.first_is_key = packet.is_keyframe
            found.pts.append(packet.pts)
            found.dts.append(packet.dts)
            found.corrupt_tail = found.corrupt_tail + 1 if packet.is_corrupt else 0
            if packet.pts is not None and packet.duration:
                found.durations[packet.pts] = packet.duration
    except av.FFmpegError as exc:
        found.stopped = str(exc)
    if found.corrupt_tail:  # the last packets were cut short (a partial download): no picture comes of them
        del found.pts[-found.corrupt_tail:], found.dts[-found.corrupt_tail:]
    found.first = reader.finish()
    return found


#: demuxers of raw elementary streams: no timestamps of their own and no seeking
RAW_FORMATS = {"h264", "hevc", "vvc", "m4v", "mpegvideo", "h263", "h261", "cavsvideo", "avs2", "avs3", "vc1",
               "mjpeg", "dirac", "obu", "rawvideo"}


#: containers that store no presentation timestamps (libavformat guesses them; wrong for B-frames, above all
#: for packed B-frames as Xvid and DivX write them)
GUESSED_PTS_FORMATS = {"avi"}


def order_problem(packets: _Packets, stream, format_name: str) -> str | None:
    """Why the packet timestamps cannot list the frames in display order (``None`` when they can): the video
    must then be decoded to know its frames, as ffmpeg does."""
    pts = packets.pts
    if set(format_name.split(",")) & RAW_FORMATS:
        return "a raw elementary stream"
    if any(p is None for p in pts):
        return "packets without timestamps"
    if len(set(pts)) < len(pts):
        return "packets sharing a timestamp"
    if not packets.first_is_key:
        return "the stream starts without a keyframe"
    if stream.codec_context.has_b_frames:
        if format_name in GUESSED_PTS_FORMATS:
            return f"B-frames in {format_name.upper()}, which stores no presentation timestamps"
        if all(p == d for p, d in zip(pts, packets.dts)):
            return "timestamps in decode order on a stream with B-frames"
    return None


@dataclass
class _DecodedList:
    """The frames a full decode gives: best-effort timestamps in output order, and why reading stopped."""

    stamps: list[int | None] = field(default_factory=list)
    stopped: str | None = None
    first: FirstFrame | None = None
    errors: int = 0


def _decoded_list(path: str | os.PathLike) -> _DecodedList:
    """Decode every frame of ``path`` from the start (a fresh open: raw streams cannot seek), as ffmpeg does."""
    found = _DecodedList()
    report = DecodeReport()
    container, stream = open_video(path)
    with container:
        stream.thread_type = "AUTO"
        for frame, stamp in stamped_frames(decoded_frames(container, stream, report, stamp=True)):
            if found.first is None:
                found.first = first_frame(frame)
            found.stamps.append(stamp)
    found.errors = report.error_count
    if report.errors and not found.stamps:
        found.stopped = report.errors[0]
    return found


def probe_video(path: str | os.PathLike, exact: bool = True) -> VideoInfo:
    """Read a video's metadata; with ``exact`` (default) list every frame's timestamp by demuxing.

    Demuxing reads the packets without decoding them (fast); only the first frame is decoded, for its size and
    display orientation. Videos whose packet timestamps cannot give the display order (see
    :func:`order_problem`) are decoded once in full. ``exact=False`` only reads the header and that first
    frame (``frame_times`` is ``None``, ``num_frames`` estimated). Raises :class:`VideoError` for missing,
    empty or unreadable files; things worth reporting about a usable video (also a video whose frames end
    before its stream's announced duration, e.g. a download cut short) go to ``VideoInfo.warnings``.
    """
    container, stream = open_video(path)
    with container:
        fps = _stream_fps(stream)
        tb = stream.time_base
        declared_frames = stream.frames
        declared = float(stream.duration * tb) if stream.duration else (  # the video stream's own length; the
            container.duration / av.time_base if container.duration and len(container.streams) == 1 else None)
        #  container's counts its audio too (e.g. MKV), so it only stands in for a video-only file
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        header_duration = container.duration / av.time_base if container.duration else None
        coded = FirstFrame(stream.codec_context.width, stream.codec_context.height)
        packets = _demux(container, stream, all_packets=exact)
        format_name = container.format.name
        problem = order_problem(packets, stream, format_name) if exact else None
    decoded = _decoded_list(path) if problem else None
    first = (decoded.first if decoded else None) or packets.first or coded
    if not first.width or not first.height:
        raise VideoError(path, "undecodable", "video stream has no frame size")
    warnings: list[str] = []
    rotation = normalise_rotation(first.rotation)
    if rotation is None:
        warnings.append(str(VideoWarning(path, "rotated", f"display rotation of {first.rotation:g} degrees "
                                                          "is not a multiple of 90; not applied")))
        rotation, mirror = 0, False
    else:
        mirror = first.mirror
        if rotation or mirror:
            turn = f"display rotation of {rotation} degrees" + (" with a mirror" if mirror else "")
            warnings.append(str(VideoWarning(path, "rotated", f"{turn} applied (stored {first.width}x"
                                                              f"{first.height})")))
    width, height = display_size(first.width, first.height, rotation)
    if not exact:
        if not fps or not (declared_frames or declared or header_duration):
            raise VideoError(path, "undecodable", "no frame rate or length in the header")
        num = declared_frames or int(round((declared or header_duration) * fps))
        if num <= 0:
            raise VideoError(path, "empty", "no video frames")
        return VideoInfo(str(path), fps, num, num / fps, width, height, None, rotation, [], warnings, mirror)
    repeated: list[int] = []
    if decoded is not None:
        stopped = decoded.stopped or packets.stopped
        if not decoded.stamps:
            raise VideoError(path, "undecodable", stopped or f"no frame decodes ({problem})")
        step = 1.0 / fps if fps else 1.0 / 25
        times = increasing_times(decoded.stamps, tb, step, start)
        last_shown = step
    else:
        pts, stopped = sorted(packets.pts), packets.stopped
        if pts and format_name == "avi":
            _fill_avi_gaps(pts, packets.repeated_pts)
        if not pts:
            if stopped:
                raise VideoError(path, "undecodable", stopped)
            raise VideoError(path, "empty", "no video frames")
        times = [float(p * tb) for p in pts]
        repeated = [i for i, p in enumerate(pts) if p in packets.repeated_pts]
        last_shown = float(packets.durations.get(pts[-1], 0) * tb) or None
    n = len(times)
    if not fps:
        fps = (n - 1) / (times[-1] - times[0]) if n > 1 and times[-1] > times[0] else 1.0
    duration = times[-1] - times[0] + 1.0 / fps
    end, announced_end = times[-1] + (last_shown or 1.0 / fps), start + (declared or 0.0)
    if declared and end < announced_end - max(0.5, 0.1 * declared):  # the video stream's own end, not the audio's
        warnings.append(str(VideoWarning(path, "truncated", f"frames end at {end - start:.2f} s of the "
                                                            f"{declared:.2f} s the video stream announces; the "
                                                            "frames there are used"
                                         + (f" (reading stopped: {stopped})" if stopped else ""))))
    elif stopped:
        warnings.append(str(VideoWarning(path, "demux_error", f"reading stopped after {n} frames: {stopped}")))
    if repeated:
        warnings.append(str(VideoWarning(path, "repeated_frames", f"{len(repeated)} of {n} frames repeat the "
                                                                  "previous one (zero-size chunks)")))
    if decoded is None and not any(w.startswith("truncated") for w in warnings):
        warnings += frame_count_warnings(path, declared_frames, n, packets.discarded)
    return VideoInfo(str(path), fps, n, duration, width, height, times, rotation, repeated, warnings, mirror,
                     "decoder" if decoded is not None else "pts")


def frame_count_warnings(path, declared: int, presented: int, discarded: int) -> list[str]:
    """The ``frame_count`` warning (a one-item list) when a header's frame count is neither the presented
    frames nor those plus the packets an edit list discards (containers count either way); else ``[]``."""
    if not declared or declared in (presented, presented + discarded):
        return []
    return [str(VideoWarning(path, "frame_count", f"the header declares {declared} frames, {presented} are "
                                                  "presented"))]


def _fill_avi_gaps(pts: list[int], repeated: set[int]) -> None:
    """AVI counts time in frames: a gap between packets is a run of zero-size chunks the demuxer skipped."""
    have = set(pts)
    for p in range(pts[0], pts[-1]):
        if p not in have:
            pts.append(p)
            repeated.add(p)
    pts.sort()
