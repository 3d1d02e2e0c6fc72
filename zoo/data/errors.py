"""Errors raised by the video input pipeline."""
from __future__ import annotations

import os

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
