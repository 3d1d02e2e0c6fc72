"""Decode selected frames of a video in one forward pass (PyAV, threaded), upright and as ffmpeg shows them.

The video is opened once; the decoder seeks to the keyframe at or before the first needed frame and decodes
forward until the last needed frame has been seen. Frames are identified by their presentation timestamp
(``VideoInfo.frame_order == "pts"``), or, for videos whose timestamps cannot tell the display order, as the
decoder's ``i``-th picture, decoding from the start (``"decoder"``; see :mod:`zoo.data.probe`). Only the
needed frames are converted, and RGB conversion + resizing happen in the same libswscale call
(:class:`RgbConverter`); the display orientation of the video (``VideoInfo.rotation``, ``mirror``) is applied
after it.

What a player shows is the rule for frames the stream does not deliver: a zero-size AVI chunk repeats the
previous frame, and a packet that fails to decode (a damaged slice, a bad NAL unit) leaves the previous
decodable frame on screen. Such a video is still decoded, with a :class:`~zoo.data.errors.VideoWarning`
(``decode_errors``); it fails only when the frames it needs have no decodable frame before or after them.
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Iterable, Iterator, Sequence

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from zoo.data.colour import colour_arguments
from zoo.data.decoder import DecodeReport, decoded_frames
from zoo.data.errors import VideoError
from zoo.data.orientation import display_size, rotate_rgb
from zoo.data.probe import VideoInfo, open_video, probe_video
from zoo.data.transforms import Size, resized_shape

#: default libswscale interpolation for resizing. Caffe2's video decoder (the VMZ test protocols) used
#: ``FAST_BILINEAR``, which views select through their resize filter (:data:`zoo.data.transforms.RESIZE_FILTERS`)
INTERPOLATION = "BILINEAR"


def frame_times_of(info: VideoInfo, start_time: float = 0.0) -> list[float]:
    """The presentation time of every frame: ``info.frame_times`` or, without them, constant-rate times."""
    if info.frame_times is not None:
        return list(info.frame_times)
    return [start_time + i / info.fps for i in range(info.num_frames)]


def shown_frames(indices: Iterable[int], info: VideoInfo) -> dict[int, int]:
    """For each frame index, the frame whose picture it shows: itself, or for a repeated frame (zero-size
    AVI chunk) the last frame before it that has a picture (the first one after it at the very start)."""
    repeated = set(info.repeated)
    shown = {}
    for i in indices:
        j = i
        while j in repeated and j > 0:
            j -= 1
        if j in repeated:  # repeats at the very start: the first real picture
            j = i
            while j in repeated and j < info.num_frames - 1:
                j += 1
        shown[i] = j
    return shown


def frame_size(info: VideoInfo, upright: bool = True) -> tuple[int, int]:
    """``(height, width)`` of the decoded frames before any resize: as shown (``upright``, the display rotation
    applied) or as stored."""
    if upright:
        return info.height, info.width
    width, height = display_size(info.width, info.height, info.rotation)
    return height, width


def _tolerance(times: Sequence[float]) -> float:
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return 0.45 * min(gaps) if gaps else 1e-3


def iter_frames(path: str | os.PathLike, frame_indices: Iterable[int], info: VideoInfo | None = None,
                size: Size = None, threads: int = 0, interpolation: str = INTERPOLATION,
                report: DecodeReport | None = None, colour_rule: str = "frame_tag",
                upright: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` once per distinct index in ``frame_indices``, in ascending order.

    ``frame`` is RGB uint8 ``(H, W, 3)``, upright, resized per ``size`` with the libswscale ``interpolation``
    (``BILINEAR``, ``FAST_BILINEAR``, ...) and converted to RGB by ``colour_rule`` (:mod:`zoo.data.colour`:
    the frame's own tag, as ffmpeg, or ``bt601``, as the released models saw); it is a fresh array the caller
    may keep; ``upright=False`` leaves out the display rotation (frames as stored, as Caffe2 and torchvision's
    reader read them). Same arguments and
    errors as :func:`decode_frames`; raises :class:`VideoError` ("truncated") after the last frame it could
    deliver when some requested frames are not in the file. ``report`` (optional)
    collects decoding errors and the frames shown as a neighbour; a ``decode_errors`` :class:`VideoWarning`
    is issued (``warnings.warn``) at the end when there were any.
    """
    if info is None:
        info = probe_video(path)
    wanted = sorted({int(i) for i in frame_indices})
    if wanted and not (0 <= wanted[0] and wanted[-1] < info.num_frames):
        bad = wanted[0] if wanted[0] < 0 else wanted[-1]
        raise IndexError(f"{path}: frame {bad} outside 0..{info.num_frames - 1}")
    if not wanted:
        return
    report = report if report is not None else DecodeReport()
    users: dict[int, list[int]] = {}
    for i, j in shown_frames(wanted, info).items():
        users.setdefault(j, []).append(i)
    needed = sorted(users)
    convert = converter_for(info, size, interpolation, colour_rule, upright)
    container, stream = open_video(path)
    found: set[int] = set()
    with container:
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = max(0, int(threads))
        times = frame_times_of(info, float(stream.start_time * stream.time_base)
                               if stream.start_time is not None else 0.0)
        if info.frame_order == "decoder":
            for j, frame in _decoder_order_pass(container, stream, needed, found, convert, report):
                yield from _deliver(users[j], frame)
        else:
            keep = _kept_timestamps(times, needed, stream.time_base) if info.frame_times is not None else None
            seek = needed[0] > 0
            for j, frame in _decode_pass(container, stream, times, needed, found, convert, report, seek, keep):
                yield from _deliver(users[j], frame)
            if len(found) < len(needed) and seek:  # a bad index can make seeking overshoot: retry from the start
                container.seek(0, stream=stream)
                for j, frame in _decode_pass(container, stream, times, needed, found, convert, report, False,
                                             keep):
                    yield from _deliver(users[j], frame)
    if len(found) < len(needed):
        missing = [j for j in needed if j not in found]
        reason = "undecodable" if report.error_count and not found else "truncated"
        why = f"; {report.error_count} packet(s) did not decode ({report.errors[0]})" if report.error_count else ""
        raise VideoError(path, reason, f"{len(missing)} of {len(needed)} needed frames never decoded "
                                       f"(first missing: frame {missing[0]} at {times[missing[0]]:.3f} s){why}")
    warning = report.warning(path)
    if warning is not None:
        warnings.warn(warning, stacklevel=2)


def _kept_timestamps(times: Sequence[float], needed: Sequence[int], time_base) -> set[int]:
    """Packet timestamps that must be decoded in full: the needed frames and the frame before each (what a
    needed frame shows if its own packet turns out to be damaged)."""
    scale = 1.0 / float(time_base)
    return {round(times[i] * scale) for j in needed for i in (j - 1, j) if i >= 0}


def _deliver(indices: list[int], frame: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    yield indices[0], frame
    for i in indices[1:]:  # repeated frames showing this picture get their own copy
        yield i, frame.copy()


def decode_frames(path: str | os.PathLike, frame_indices: Sequence[int], info: VideoInfo | None = None,
                  size: Size = None, threads: int = 0, interpolation: str = INTERPOLATION,
                  report: DecodeReport | None = None, colour_rule: str = "frame_tag",
                  upright: bool = True) -> np.ndarray:
    """Frames ``frame_indices`` of ``path`` as RGB uint8 ``(N, H, W, 3)``, upright, in the order asked.

    ``frame_indices`` index the frames in display order (``info.frame_times``); repeats are allowed and
    decoded once. ``size``: ``None`` (native), an int short side or ``(h, w)`` (see
    :mod:`zoo.data.transforms`), applied to the upright frame with the libswscale ``interpolation``;
    ``colour_rule``, ``upright``: see :func:`iter_frames`.
    ``threads``: decoder threads, 0 = FFmpeg's choice (use 1 inside DataLoader workers on small machines).
    Raises :class:`VideoError` when the file cannot deliver the frames and ``IndexError`` for indices outside
    the video; see :func:`iter_frames` for ``report`` and the warning about damaged packets.
    """
    if info is None:
        info = probe_video(path)
    indices = [int(i) for i in frame_indices]
    wanted = sorted(set(indices))
    slot = {idx: k for k, idx in enumerate(wanted)}
    out_h, out_w = resized_shape(*frame_size(info, upright), size)
    buffer = np.empty((len(wanted), out_h, out_w, 3), np.uint8)
    for idx, frame in iter_frames(path, wanted, info, size, threads, interpolation, report, colour_rule, upright):
        buffer[slot[idx]] = frame
    if indices == wanted:
        return buffer
    return buffer[[slot[i] for i in indices]]


class RgbConverter:
    """The one place where decoded frames become RGB: conversion (by a colour rule, :mod:`zoo.data.colour`) +
    resize in one libswscale call (one context for the whole video), then the display orientation; the last
    result is kept, since a held frame may be asked for again.

    ``width`` x ``height`` is the output size before the turn. With ``native`` (the stored size of the first
    frame, when no resize is asked for), a later frame of another size is scaled to it with ``BICUBIC``, as
    the ffmpeg CLI scales a mid-stream size change to the first frame's size.
    """

    def __init__(self, width: int, height: int, rotation: int, interpolation: str = INTERPOLATION,
                 colour_rule: str = "frame_tag", mirror: bool = False, native: tuple[int, int] | None = None):
        self.width, self.height, self.rotation, self.interpolation = width, height, rotation, interpolation
        self.colour_rule, self.mirror, self.native = colour_rule, mirror, native
        self.colour: dict[str, dict] = {}   # reformat arguments by pixel format
        self.reformatter = VideoReformatter()
        self.last: tuple[object, np.ndarray] | None = None

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if self.last is not None and self.last[0] is frame:
            return self.last[1].copy()
        interpolation = self.interpolation
        if self.native is not None and (frame.width, frame.height) != self.native:
            interpolation = "BICUBIC"
        fmt = frame.format
        if fmt.name not in self.colour:
            self.colour[fmt.name] = colour_arguments(fmt, self.colour_rule)
        rgb = self.reformatter.reformat(frame, self.width, self.height, "rgb24", interpolation=interpolation,
                                        threads=1, **self.colour[fmt.name]).to_ndarray()
        if self.rotation or self.mirror:
            rgb = np.ascontiguousarray(rotate_rgb(rgb, self.rotation, self.mirror))
        self.last = (frame, rgb)
        return rgb


def converter_for(info: VideoInfo, size: Size, interpolation: str = INTERPOLATION, colour_rule: str = "frame_tag",
                  upright: bool = True) -> RgbConverter:
    """The :class:`RgbConverter` giving ``info``'s frames at ``size`` (see :func:`decode_frames`): upright
    (display rotation and mirror applied) or, with ``upright=False``, as stored."""
    rotation, mirror = (info.rotation, info.mirror) if upright else (0, False)
    out_h, out_w = resized_shape(*frame_size(info, upright), size)
    width, height = display_size(out_w, out_h, rotation)
    return RgbConverter(width, height, rotation, interpolation, colour_rule, mirror,
                        (width, height) if size is None else None)


def _decode_pass(container, stream, times, needed, found, convert, report: DecodeReport, seek: bool,
                 keep: set[int] | None):
    """Decode forward from (a seek to) the first needed frame, yielding ``(index, rgb)`` for each needed
    frame not yet found. A needed frame without a picture of its own shows the previous decoded frame."""
    pending = [j for j in needed if j not in found]
    if not pending:
        return
    tol = _tolerance(times)
    tb = stream.time_base
    last_t = times[pending[-1]]
    if seek:
        try:
            container.seek(int(math.floor(times[pending[0]] / tb + 0.5)), stream=stream, backward=True,
                           any_frame=False)
        except av.FFmpegError:  # a stream that cannot seek (e.g. IVF): read it from the start
            seek = False
    k = 0
    prev = None  # the last decoded frame: what a player shows until the next one
    for frame in decoded_frames(container, stream, report, keep):
        if frame.pts is None:
            continue
        t = float(frame.pts * tb)
        if t < times[pending[k]] - tol:
            prev = frame
            continue
        if prev is None and seek and t > times[pending[k]] + tol:
            return  # seeking overshot the first needed frame: the caller decodes again from the start
        while k < len(pending) and times[pending[k]] < t - tol:  # no picture at its time
            found.add(pending[k])
            report.show_previous(pending[k], round(times[pending[k]] / tb))
            yield pending[k], convert(prev if prev is not None else frame)
            k += 1
        if k < len(pending) and abs(times[pending[k]] - t) <= tol:
            found.add(pending[k])
            yield pending[k], convert(frame)
            k += 1
        prev = frame
        if k == len(pending):
            return
        if t > last_t + 2.0:
            return  # far past the last needed frame: the missing ones are not in this stream
    if prev is not None and report.last_pts is not None:  # packets at the end without a picture (damaged, or
        end = float(report.last_pts * tb) + tol  # "no change"): the last picture stays; nothing past the file
        for j in (j for j in pending[k:] if times[j] <= end):
            found.add(j)
            report.show_previous(j, round(times[j] / tb))
            yield j, convert(prev)


def _decoder_order_pass(container, stream, needed, found, convert, report: DecodeReport):
    """Decode from the start, frame ``i`` being the decoder's ``i``-th picture (``frame_order == "decoder"``),
    yielding ``(index, rgb)`` for each needed frame. Needed frames past the decoder's last picture (the probe
    counted a picture that did not come this time) show the last one, with a ``decode_errors`` warning."""
    pending = iter(needed)
    want = next(pending, None)
    prev = None
    for i, frame in enumerate(decoded_frames(container, stream, report)):
        prev = frame
        while want == i:
            found.add(want)
            yield want, convert(frame)
            want = next(pending, None)
        if want is None:
            return
    if prev is not None:
        while want is not None:
            found.add(want)
            report.filled.add(want)
            yield want, convert(prev)
            want = next(pending, None)


def check_decoding(path: str | os.PathLike, threads: int = 0) -> DecodeReport:
    """Decode every frame of ``path`` (no conversion) and report the packets that fail and how many frames
    came out (``report.decoded``); raises :class:`VideoError` only when the file cannot be opened."""
    report = DecodeReport()
    container, stream = open_video(path)
    with container:
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = max(0, int(threads))
        for _ in decoded_frames(container, stream, report):
            pass
    return report
