"""Re-encode one ``[start, end)`` segment of a video at a fixed frame rate and short side, through PyAV.

Frame-rate conversion picks output frames by timestamp: output frame ``k`` shows the latest source frame
whose presentation time is ``<= start + k / fps`` (the first source frame if none is), so the output has
exactly ``fps`` and ``ceil((end - start) * fps)`` frames, or fewer when the video ends before ``end``.
Times are relative to the container's start time, as ``ffmpeg -ss`` counts them. A source with a display
rotation (phone videos) is written upright, with no rotation left in the output, as the ffmpeg CLI does.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter

from zoo.errors import WRITE_ERRNOS
from zoo.options import fold_keywords
from zoo.data.encode import VideoWriter
from zoo.data.errors import VideoError
from zoo.data.orientation import display_size, rotate_frame
from zoo.data.probe import display_orientation

#: failure reasons of :class:`SegmentError`
REASONS = ("missing_source", "undecodable", "outside_video", "too_short", "invalid_segment")


class SegmentError(Exception):
    """A segment that cannot be produced; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, path, reason: str, message: str = ""):
        self.path, self.reason, self.message = str(path), reason, message
        super().__init__(f"{path}: {reason}" + (f" ({message})" if message else ""))


@dataclass(frozen=True)
class TrimOptions:
    """How a segment is encoded (``zoo-prepare trim`` gives every segment the same): ``fps`` frames per second,
    the short side scaled to ``short_side`` pixels with libswscale's ``interpolation``, ``codec`` at quality
    ``crf`` (h264, hevc) or ``qscale`` (mpeg4), the audio kept or not, ``threads`` for decoding and encoding
    (0: automatic); a segment with less than ``min_duration`` seconds of video is refused."""

    fps: float = 30.0
    short_side: int = 320
    codec: str = "h264"
    crf: int | None = 18
    qscale: int | None = None
    keep_audio: bool = False
    min_duration: float = 1.0
    threads: int = 0
    interpolation: str = "BICUBIC"


@dataclass(frozen=True)
class _Span:
    """The ``[start, end)`` seconds of a segment on the source's timeline (``origin``: the container's start
    time) and its output frame rate."""

    start: Fraction
    end: Fraction
    fps: Fraction
    origin: Fraction

    @property
    def wanted(self) -> int:
        """Output frames of the whole segment."""
        return math.ceil((self.end - self.start) * self.fps)

    def target(self, k: int) -> Fraction:
        """The time output frame ``k`` shows."""
        return self.start + k / self.fps


@dataclass
class SegmentResult:
    """What :func:`transcode_segment` wrote."""

    num_frames: int
    width: int
    height: int
    duration: float  # seconds actually covered (shorter than requested when truncated)
    truncated: bool  # the video ended before ``end``


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Scale so the short side is ``short_side`` (rounded to even), keeping the aspect ratio, even dimensions."""
    def even(x: float) -> int:  # nearest even number, halves away from zero (as ffmpeg's scale=-2)
        return max(2, 2 * int(x / 2 + 0.5))

    short = even(short_side)
    if width <= height:
        return short, even(height * short / width)
    return even(width * short / height), short


class _SegmentWriter(VideoWriter):
    """VideoWriter that takes decoded ``av.VideoFrame``s directly (no RGB round trip) and optional audio."""

    # libx264's own rate control, as ffmpeg's -crf: without its macroblock tree a trim is about twice as large
    # (the price of a bit-repeatable encode, which the synthetic data pays and a dataset need not)
    repeatable = False

    def __init__(self, *args, audio_rate: int | None = None, audio_layout: str = "stereo", **kwargs):
        super().__init__(*args, **kwargs)
        self.audio_rate, self.audio_layout = audio_rate, audio_layout
        self._audio = None
        self._audio_samples = 0
        self._resampler = None

    def __enter__(self):
        super().__enter__()
        if self.audio_rate:
            self._audio = self.container.add_stream("aac", rate=self.audio_rate, layout=self.audio_layout)
            self._resampler = av.AudioResampler(format="fltp", layout=self.audio_layout, rate=self.audio_rate)
        return self

    def write_frame(self, frame: av.VideoFrame, index: int) -> None:
        """Encode an already scaled yuv420p frame as output frame ``index``."""
        frame.pts = index
        frame.time_base = 1 / self.fps
        frame.pict_type = av.video.frame.PictureType.NONE
        self.encode_frame(frame)

    def write_audio(self, frame: av.AudioFrame | None) -> None:
        """Resample and encode one audio frame (``None`` flushes the resampler)."""
        for out in self._resampler.resample(frame):
            out.pts = self._audio_samples
            out.time_base = Fraction(1, self.audio_rate)
            self._audio_samples += out.samples
            for packet in self._audio.encode(out):
                self.container.mux(packet)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None and self._audio is not None:
            self.write_audio(None)
            for packet in self._audio.encode(None):
                self.container.mux(packet)
        return super().__exit__(exc_type, exc, tb)


def _frame_time(frame, time_base: Fraction, origin: Fraction) -> Fraction | None:
    pts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
    return None if pts is None else pts * time_base - origin


def transcode_segment(src: str | os.PathLike, dst: str | os.PathLike, start: float, end: float,
                      options: TrimOptions | None = None, **keywords) -> SegmentResult:
    """Write ``[start, end)`` seconds of ``src`` to ``dst`` (atomic) as ``options`` say (:class:`TrimOptions`;
    its fields may also be given as keywords: ``fps=25, short_side=128``).

    Raises :class:`SegmentError` (missing source, undecodable, segment outside the video, too short:
    fewer than ``min_duration`` seconds available). The output is never left half-written.
    """
    if options is not None and not isinstance(options, TrimOptions):
        raise TypeError(f"transcode_segment: options must be a TrimOptions, got {options!r} (give fps= and the "
                        "other encoding options as keywords or in the record)")
    (options,) = fold_keywords("transcode_segment", keywords, options or TrimOptions())
    fps = options.fps
    src, dst = Path(src), Path(dst)
    start_t, end_t = Fraction(start).limit_denominator(1000), Fraction(end).limit_denominator(1000)
    fps_q = Fraction(fps).limit_denominator(1001)
    if not end_t > start_t >= 0 or fps_q <= 0:
        raise SegmentError(src, "invalid_segment", f"start={start} end={end} fps={fps}")
    if not src.is_file():
        raise SegmentError(src, "missing_source", "file not found")
    try:
        rotation, mirror = display_orientation(src)
        container = av.open(str(src))
    except VideoError as err:
        raise SegmentError(src, "undecodable", err.detail or err.reason) from None
    except av.error.FFmpegError as err:
        raise SegmentError(src, "undecodable", str(err)) from None
    with container:
        if not container.streams.video:
            raise SegmentError(src, "undecodable", "no video stream")
        vstream = container.streams.video[0]
        vstream.thread_type = "AUTO"
        vstream.thread_count = options.threads
        astream = container.streams.audio[0] if options.keep_audio and container.streams.audio else None
        span = _Span(start_t, end_t, fps_q, Fraction(container.start_time or 0, av.time_base))
        if container.duration is not None and start_t >= Fraction(container.duration, av.time_base):
            raise SegmentError(src, "outside_video",
                               f"starts at {float(start_t)} s, video lasts {container.duration / av.time_base:.3f} s")
        tb = vstream.time_base
        if start_t > 0:  # land on the keyframe at or before start
            container.seek(int((start_t + span.origin) / tb), stream=vstream, backward=True)
        width, height = output_size(*display_size(vstream.codec_context.width, vstream.codec_context.height,
                                                  rotation), options.short_side)
        output = _Output(dst, span.fps, (width, height), options, astream)
        try:
            written = _copy_frames(container, vstream, astream, span, (rotation, mirror), output)
        except av.error.FFmpegError as err:
            if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
                raise   # the output cannot be written: not the video's fault
            raise SegmentError(src, "undecodable", str(err)) from None
    duration = written / fps_q
    return SegmentResult(num_frames=written, width=width, height=height, duration=float(duration),
                         truncated=written < span.wanted)


class _Output:
    """The segment's file, opened at its first video frame (audio decoded before it is kept until then)."""

    def __init__(self, dst, fps: Fraction, size: tuple[int, int], options: TrimOptions, astream):
        self.dst, self.fps, self.size, self.options, self.astream = dst, fps, size, options, astream
        self.writer: _SegmentWriter | None = None
        self.frames = 0
        self._audio: list = []

    def audio(self, frame) -> None:
        if self.writer is None:
            self._audio.append(frame)
        else:
            self.writer.write_audio(frame)

    def frame(self, scaled) -> None:
        """Write the next output frame (already scaled and turned upright)."""
        if self.writer is None:
            self.writer = self._open().__enter__()
            for frame in self._audio:
                self.writer.write_audio(frame)
            self._audio.clear()
        self.writer.write_frame(scaled, self.frames)
        self.frames += 1

    def close(self, err: BaseException | None = None) -> None:
        """Finish the file, or (``err``) remove what was written."""
        if self.writer is not None:
            self.writer.__exit__(type(err) if err else None, err, err.__traceback__ if err else None)

    def _open(self) -> _SegmentWriter:
        astream, options = self.astream, self.options
        audio_rate = astream.codec_context.sample_rate if astream is not None else None
        layout = "stereo"
        if astream is not None and astream.codec_context.layout is not None:
            layout = "mono" if astream.codec_context.layout.nb_channels == 1 else "stereo"
        return _SegmentWriter(self.dst, self.fps, *self.size, codec=options.codec, crf=options.crf,
                              qscale=options.qscale, threads=options.threads, audio_rate=audio_rate,
                              audio_layout=layout)


def _copy_frames(container, vstream, astream, span: _Span, orientation: tuple[int, bool], output: _Output) -> int:
    """Decode from the current position and write the selected frames of ``span`` to ``output`` (upright:
    ``orientation``, the ``(rotation, mirror)`` of :func:`zoo.data.probe.display_orientation`, applied);
    returns the number written."""
    rotation, mirror = orientation
    src = container.name
    width, height = output.size
    stored_w, stored_h = display_size(width, height, rotation)  # the scaled size before the turn
    min_frames = max(1, math.ceil(Fraction(output.options.min_duration).limit_denominator(1000) * span.fps))
    wanted = span.wanted
    reformatter = VideoReformatter()  # one instance keeps its libswscale context between frames

    def scale(frame):
        scaled = reformatter.reformat(frame, width=stored_w, height=stored_h, format="yuv420p",
                                      interpolation=output.options.interpolation)
        return rotate_frame(scaled, rotation, mirror)

    prev = prev_scaled = last_time = None
    last_step = 1 / Fraction(vstream.average_rate or vstream.guessed_rate or 30)
    streams = [vstream] + ([astream] if astream is not None else [])
    try:
        done = audio_done = False
        for packet in container.demux(*streams):
            if done and packet.stream is vstream:  # video complete: only the rest of the audio is wanted
                continue
            for frame in packet.decode():
                if packet.stream is not vstream:
                    audio_t = _frame_time(frame, astream.time_base, span.origin)
                    if audio_t is not None and span.start <= audio_t < span.end:
                        output.audio(frame)
                    audio_done = audio_t is not None and audio_t >= span.end
                    continue
                t = _frame_time(frame, vstream.time_base, span.origin)
                if t is None:  # no timestamp: assume the previous frame interval
                    t = last_time + last_step if last_time is not None else Fraction(0)
                if last_time is not None and t > last_time:
                    last_step = t - last_time
                last_time = t if last_time is None else max(last_time, t)
                # every target before t shows the latest frame at or before it (or the first frame)
                while output.frames < wanted and span.target(output.frames) < t:
                    if prev is None:
                        prev = frame
                    if prev_scaled is None:
                        prev_scaled = scale(prev)
                    output.frame(prev_scaled)
                if output.frames >= wanted:
                    done = True
                    break
                if prev is not frame:
                    prev, prev_scaled = frame, None
            if done and (astream is None or audio_done):
                break
        video_end = last_time + last_step if last_time is not None else None
        if video_end is None or video_end <= span.start:
            raise SegmentError(src, "outside_video", "no frame at or after the segment start"
                               + ("" if video_end is None else f" (video ends at {float(video_end):.3f} s)"))
        while output.frames < wanted and span.target(output.frames) < video_end:  # the last frame holds to the end
            if prev_scaled is None:
                prev_scaled = scale(prev)
            output.frame(prev_scaled)
        if output.frames < min_frames:
            raise SegmentError(src, "too_short", f"{output.frames} frame(s) ({float(output.frames / span.fps):.2f} s) "
                                                 f"available, need {float(output.options.min_duration)} s")
    except BaseException as err:
        output.close(err)
        raise
    output.close()
    return output.frames
