"""The decoder as the ffmpeg CLI runs it: every frame it gives, packet by packet, damaged packets skipped, and
each frame stamped with libavcodec's best-effort timestamp.

Decoders output pictures in display order, each carrying the ``pts`` of the packet it came from. Some muxers
write packet timestamps in decode order (an MPEG-4 AVI with B-frames, an MP4 whose pts equal its dts), so
those carried ``pts`` are out of order. ffmpeg therefore stamps a decoded frame with the *best-effort*
timestamp (libavcodec's ``guess_correct_pts``): it counts how often the carried pts and the packet dts went
backwards and uses the dts when the pts is the less trustworthy. PyAV does not expose that value, so
:class:`BestEffortClock` computes it the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import av

from zoo.data.errors import VideoWarning


#: packets of at most this many bytes carry no picture data: "no change" packets (TechSmith's TSCC writes 2 bytes,
#: QuickTime Animation 7, an MPEG-4 "not coded" VOP 6 or 7). Some decoders answer them with a copy of the
#: previous picture, others (TSCC) with no picture at all; either way the previous picture stays on screen.
NO_CHANGE_MAX_BYTES = 7


@dataclass
class DecodeReport:
    """What one decode met: packets that failed (``errors``, the first few messages of ``error_count``), the
    requested frames shown as a neighbour because no picture was decoded at their time (``filled``), and those
    that show the previous picture because their packet was a "no change" packet that gave none (``unchanged``:
    normal in screen captures, no warning). ``no_change_pts`` holds the timestamps of the "no change" packets
    read."""

    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    filled: set[int] = field(default_factory=set)
    unchanged: set[int] = field(default_factory=set)
    no_change_pts: set[int] = field(default_factory=set)
    decoded: int = 0
    last_pts: int | None = None  # the latest packet timestamp read: what the file holds

    def show_previous(self, index: int, pts: int | None) -> None:
        """Record that requested frame ``index`` (whose packet timestamp is ``pts``) shows the previous picture:
        ``unchanged`` when its packet was a "no change" packet, else ``filled``."""
        (self.unchanged if pts in self.no_change_pts else self.filled).add(index)

    def add_error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < 3:
            self.errors.append(message)

    def warning(self, path) -> VideoWarning | None:
        """The ``decode_errors`` warning for this decode, or ``None`` if nothing went wrong."""
        if not self.error_count and not self.filled:
            return None
        parts = []
        if self.error_count:
            parts.append(f"{self.error_count} packet(s) did not decode ({self.errors[0]})")
        if self.filled:
            parts.append(f"{len(self.filled)} requested frame(s) show the nearest decodable frame")
        return VideoWarning(path, "decode_errors", "; ".join(parts))


def decoded_frames(container, stream, report: DecodeReport, keep: set[int] | None = None,
                   stamp: bool = False) -> Iterator[av.VideoFrame]:
    """Every frame the decoder gives for ``stream``, packet by packet, skipping packets that fail to decode
    (counted in ``report``) as the ffmpeg CLI does, and draining the decoder at the end.

    With ``keep`` (packet timestamps), the decoder skips the non-reference frames of every other packet
    (``skip_frame=NONREF``): no other frame depends on them, so the kept frames decode exactly as in a full
    decode, and B-frames nobody asked for cost nothing. After a packet fails, everything is decoded.
    With ``stamp``, each frame's ``opaque`` is the ``pts`` of the packet it came from (``None`` when that
    packet had none; PyAV replaces a missing frame pts by a frame counter), for :class:`BestEffortClock`.
    """
    codec = stream.codec_context
    if stamp:
        codec.copy_opaque = True
    skipping = False
    try:
        for packet in _packets_less_cut_tail(container, stream):
            if packet.size == 0 and packet.pts is not None:
                continue  # a zero-size chunk: no picture of its own (probe_video lists it as repeated)
            if keep is not None and skipping == (packet.pts is None or packet.pts in keep):
                skipping = not skipping
                codec.skip_frame = "NONREF" if skipping else "DEFAULT"
            if packet.pts is not None and (report.last_pts is None or packet.pts > report.last_pts):
                report.last_pts = packet.pts
            if stamp and packet.size:
                packet.opaque = packet.pts
            if 0 < packet.size <= NO_CHANGE_MAX_BYTES and packet.pts is not None:
                report.no_change_pts.add(packet.pts)
            try:
                frames = packet.decode()  # the last, empty packet drains the decoder
            except av.FFmpegError as exc:
                report.add_error(f"at {float(packet.pts * stream.time_base):.3f} s: {exc}"
                                 if packet.pts is not None else str(exc))
                if skipping:  # damaged data: decode everything from here on, as ffmpeg does, so that error
                    codec.skip_frame = "DEFAULT"  # concealment sees the same pictures
                keep, skipping = None, False
                continue
            report.decoded += len(frames)
            yield from frames
    except av.FFmpegError as exc:  # reading the file failed: what was read is all there is
        report.add_error(str(exc))
        try:
            frames = stream.decode(None)
        except av.FFmpegError:
            return
        report.decoded += len(frames)
        yield from frames


def _packets_less_cut_tail(container, stream):
    """The stream's packets, less the corrupt ones at its very end: a file cut short ends in a partial packet,
    which gives no picture (:func:`zoo.data.probe.probe_video` does not list it), and which, fed to a
    frame-threaded decoder, also loses the pictures still in flight."""
    held = []
    for packet in container.demux(stream):
        if packet.is_corrupt and packet.size:
            held.append(packet)
            continue
        if packet.size or packet.pts is not None:  # not the final flush packet: the held ones were not the end
            yield from held
        held = []
        yield packet


class BestEffortClock:
    """libavcodec's best-effort timestamp (``guess_correct_pts``), fed the decoded frames in output order.

    Call it with a frame's carried packet pts and its packet dts (either may be ``None``); it returns the
    timestamp ffmpeg gives that frame: the pts, unless the pts went backwards more often than the dts so far
    (or is missing), then the dts. Starts afresh like a freshly opened (or flushed) decoder.
    """

    def __init__(self):
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


def stamped_frames(frames: Iterator[av.VideoFrame]) -> Iterator[tuple[av.VideoFrame, int | None]]:
    """``(frame, best-effort timestamp)`` for frames of :func:`decoded_frames` with ``stamp=True``."""
    clock = BestEffortClock()
    for frame in frames:
        yield frame, clock(frame.opaque, frame.dts)


def increasing_times(stamps: list[int | None], time_base, frame_duration: float, start: float = 0.0
                     ) -> list[float]:
    """Seconds for a list of best-effort timestamps, made strictly increasing: a missing stamp, or one not
    after the previous frame's (the decoder's last, drained frames can fall back to an out-of-order pts),
    becomes the previous time plus ``frame_duration``."""
    times: list[float] = []
    for stamp in stamps:
        t = float(stamp * time_base) if stamp is not None else None
        if times and (t is None or t <= times[-1]):
            t = times[-1] + frame_duration
        times.append(start if t is None else t)
    return times
