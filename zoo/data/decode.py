"""Decode selected frames of a video in one forward pass (PyAV, threaded).

The video is opened once; the decoder seeks to the keyframe at or before the first needed frame and decodes
forward until the last needed frame has been seen. Frames are identified by their presentation timestamp,
never by counting decoded frames (frame counters are unreliable with threaded decoding and variable frame
rate). Only the needed frames are converted, and RGB conversion + resizing happen in the same libswscale
call.
"""
from __future__ import annotations

import bisect
import math
import os
from typing import Iterable, Iterator, Sequence

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from zoo.data.errors import VideoError
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


def _tolerance(times: Sequence[float]) -> float:
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return 0.45 * min(gaps) if gaps else 1e-3


def iter_frames(path: str | os.PathLike, frame_indices: Iterable[int], info: VideoInfo | None = None,
                size: Size = None, threads: int = 0,
                interpolation: str = INTERPOLATION) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` once per distinct index in ``frame_indices``, in ascending order.

    ``frame`` is RGB uint8 ``(H, W, 3)``, resized per ``size`` with the libswscale ``interpolation``
    (``BILINEAR``, ``FAST_BILINEAR``, ...); it is a fresh array the caller may keep.
    Same arguments and errors as :func:`decode_frames`; raises :class:`VideoError` ("truncated") after
    the last frame it could deliver when some requested frames are not in the file.
    """
    if info is None:
        info = probe_video(path)
    wanted = sorted({int(i) for i in frame_indices})
    if wanted and not (0 <= wanted[0] and wanted[-1] < info.num_frames):
        bad = wanted[0] if wanted[0] < 0 else wanted[-1]
        raise IndexError(f"{path}: frame {bad} outside 0..{info.num_frames - 1}")
    if not wanted:
        return
    out_h, out_w = resized_shape(info.height, info.width, size)
    container, stream = open_video(path)
    with container:
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = max(0, int(threads))
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        times = frame_times_of(info, start)
        found: set[int] = set()
        yield from _decode_pass(container, stream, times, wanted, found, (out_h, out_w), path, interpolation,
                                seek=wanted[0] > 0)
        if len(found) < len(wanted) and wanted[0] > 0:  # a bad index can make seeking overshoot: retry
            container.seek(0, stream=stream)
            yield from _decode_pass(container, stream, times, wanted, found, (out_h, out_w), path, interpolation,
                                    seek=False)
    if len(found) < len(wanted):
        missing = [i for i in wanted if i not in found]
        raise VideoError(path, "truncated", f"{len(missing)} of {len(wanted)} needed frames never decoded "
                                            f"(first missing: frame {missing[0]} at {times[missing[0]]:.3f} s)")


def decode_frames(path: str | os.PathLike, frame_indices: Sequence[int], info: VideoInfo | None = None,
                  size: Size = None, threads: int = 0, interpolation: str = INTERPOLATION) -> np.ndarray:
    """Frames ``frame_indices`` of ``path`` as RGB uint8 ``(N, H, W, 3)``, in the order asked.

    ``frame_indices`` index the frames in display order (``info.frame_times``); repeats are allowed and
    decoded once. ``size``: ``None`` (native), an int short side or ``(h, w)`` (see
    :mod:`zoo.data.transforms`), resized with the libswscale ``interpolation``. ``threads``: decoder threads,
    0 = FFmpeg's choice (use 1 inside DataLoader workers on small machines). Raises :class:`VideoError` when the file cannot deliver the frames and
    ``IndexError`` for indices outside the video.
    """
    if info is None:
        info = probe_video(path)
    indices = [int(i) for i in frame_indices]
    wanted = sorted(set(indices))
    slot = {idx: k for k, idx in enumerate(wanted)}
    out_h, out_w = resized_shape(info.height, info.width, size)
    buffer = np.empty((len(wanted), out_h, out_w, 3), np.uint8)
    for idx, frame in iter_frames(path, wanted, info, size, threads, interpolation):
        buffer[slot[idx]] = frame
    if indices == wanted:
        return buffer
    return buffer[[slot[i] for i in indices]]


def _decode_pass(container, stream, times, wanted, found, out_size, path, interpolation: str, seek: bool):
    """Decode forward from (a seek to) the first wanted frame, yielding each wanted frame not yet found."""
    tol = _tolerance(times)
    tb = stream.time_base
    first_t, last_t = times[wanted[0]], times[wanted[-1]]
    wanted_set = set(wanted)
    out_h, out_w = out_size
    reformatter = VideoReformatter()  # one libswscale context for the whole video, not one per frame
    if seek:
        container.seek(int(math.floor(first_t / tb + 0.5)), stream=stream, backward=True, any_frame=False)
    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * tb)
            if t < first_t - tol:
                continue
            k = bisect.bisect_left(times, t)
            j = k if k < len(times) and (k == 0 or times[k] - t < t - times[k - 1]) else k - 1
            if abs(times[j] - t) <= tol and j in wanted_set and j not in found:
                found.add(j)
                rgb = reformatter.reformat(frame, out_w, out_h, "rgb24", interpolation=interpolation, threads=1)
                yield j, rgb.to_ndarray()
                if len(found) == len(wanted):
                    return
            if t > last_t + 2.0:
                return  # far past the last needed frame: the missing ones are not in this stream
    except av.FFmpegError as exc:
        if not found:
            raise VideoError(path, "undecodable", str(exc)) from exc
        raise VideoError(path, "truncated", f"decoding failed after {len(found)} needed frames: {exc}") from exc
