"""Errors raised by the video input pipeline."""
from __future__ import annotations

import contextlib
import os
import warnings
from typing import Iterator

from zoo.input_warnings import ReportedWarning

#: the reasons a :class:`VideoError` can carry
VIDEO_ERROR_REASONS = ("missing", "empty", "undecodable", "truncated", "too_short")


class VideoError(Exception):
    """A video that cannot be used: ``.path`` names the file, ``.reason`` says why.

    ``reason`` is one of :data:`VIDEO_ERROR_REASONS`: ``missing`` (no such file), ``empty`` (zero bytes or
    no video frames), ``undecodable`` (not a video, unknown codec, corrupt data), ``truncated`` (the data
    ends before the frames the container announces), ``too_short`` (fewer frames than a caller requires).
    ``detail`` is a human-readable explanation.
    """

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = ""):
        if reason not in VIDEO_ERROR_REASONS:
            raise ValueError(f"unknown VideoError reason {reason!r}; expected one of {VIDEO_ERROR_REASONS}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):  # keep the fields when the error crosses a DataLoader worker boundary
        return (type(self), (self.path, self.reason, self.detail))


class ClassMismatchError(ValueError):
    """The class names of a dataset disagree with the class list of a checkpoint or the command line."""


#: the kinds a :class:`VideoWarning` can carry (a video accepted with a warning is still used)
VIDEO_WARNING_KINDS = ("frame_count", "repeated_frames", "rotated", "decode_errors", "demux_error", "truncated")


class VideoWarning(ReportedWarning):
    """A video that is used, but with something the report should mention; ``.kind`` says what.

    ``kind`` is one of :data:`VIDEO_WARNING_KINDS`: ``frame_count`` (the container's frame count disagrees
    with the frames it presents; the count is only a hint), ``repeated_frames`` (zero-size AVI chunks shown as
    the previous frame again), ``rotated`` (a display rotation was applied), ``decode_errors`` (some packets
    did not decode; the frames at their times show the nearest decodable frame, as a player does),
    ``demux_error`` (reading the file stopped early; the frames before that point are used), ``truncated``
    (the frames end well before the video stream's announced duration, e.g. a download cut short; the frames
    that are there are used, as ffmpeg plays them). ``str()`` is
    ``"kind: detail"``, the form stored in :attr:`zoo.data.probe.VideoInfo.warnings` and in reports. The
    tools show each in one line and count them (:func:`zoo.input_warnings.reporting_warnings`).
    """

    def __init__(self, path: str | os.PathLike, kind: str, detail: str = ""):
        if kind not in VIDEO_WARNING_KINDS:
            raise ValueError(f"unknown VideoWarning kind {kind!r}; expected one of {VIDEO_WARNING_KINDS}")
        self.path, self.kind, self.detail = str(path), kind, detail
        super().__init__(f"{kind}: {detail}" if detail else kind)

    def __reduce__(self):
        return (type(self), (self.path, self.kind, self.detail))


class DatasetWarning(ReportedWarning):
    """Something about a dataset folder or list a report should mention (``kind``: ``left_out``, files that
    are not taken as videos); ``str()`` is ``"kind: detail"``."""

    def __init__(self, path: str | os.PathLike, kind: str, detail: str):
        self.path, self.kind, self.detail = str(path), kind, detail
        super().__init__(f"{kind}: {detail}")

    def __reduce__(self):
        return (type(self), (self.path, self.kind, self.detail))


def warning_kind(text: str) -> str:
    """The kind of a stored warning text ``"kind: detail"``."""
    return text.split(":", 1)[0].strip()


@contextlib.contextmanager
def collect_video_warnings() -> Iterator[list[str]]:
    """Collect every :class:`VideoWarning` issued inside the block, as ``"kind: detail"`` texts, into the
    yielded list (filled when the block ends, also on an exception); other warnings go on as usual."""
    texts: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield texts
        finally:
            others = []
            for item in caught:
                if isinstance(item.message, VideoWarning):
                    texts.append(str(item.message))
                else:
                    others.append(item)
    for item in others:
        warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)

