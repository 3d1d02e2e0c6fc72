"""Display rotation: the quarter turns a player applies to a stored frame before showing it.

Phone videos store their frames as the sensor saw them plus a display matrix (in MP4, also written by
``ffmpeg -metadata:s:v rotate=N`` or ``-display_rotation``). The ffmpeg CLI, players and decord show such
frames upright; so does this package. Rotations are counter-clockwise degrees as ffprobe prints them and as
PyAV's ``VideoFrame.rotation`` reports them; 90 and 270 swap width and height. Angles that are not a
multiple of 90 degrees are not applied (ffmpeg would rotate inside the same frame size, cutting corners).
"""
from __future__ import annotations

import av
import numpy as np


def normalise_rotation(degrees: float | None) -> int | None:
    """``degrees`` as 0, 90, 180 or 270 (counter-clockwise); ``None`` if it is not a multiple of 90."""
    if not degrees:
        return 0
    turns = degrees / 90.0
    if abs(turns - round(turns)) * 90.0 > 1.0:
        return None
    return int(round(turns)) % 4 * 90


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """``(width, height)`` as shown after ``rotation`` degrees."""
    return (height, width) if rotation % 180 else (width, height)


def rotate_rgb(frame: np.ndarray, rotation: int) -> np.ndarray:
    """An ``(H, W, C)`` array turned ``rotation`` degrees counter-clockwise (a view; no copy)."""
    turns = rotation // 90 % 4
    return np.rot90(frame, turns) if turns else frame


def rotate_frame(frame: av.VideoFrame, rotation: int) -> av.VideoFrame:
    """A new planar-YUV ``VideoFrame`` (e.g. yuv420p, even sizes) turned ``rotation`` degrees
    counter-clockwise, with no display matrix; ``frame`` itself when ``rotation`` is 0."""
    turns = rotation // 90 % 4
    if not turns:
        return frame
    planes = []
    for plane in frame.planes:
        data = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
        planes.append(np.rot90(data, turns).ravel())
    width, height = display_size(frame.width, frame.height, rotation)
    flat = np.concatenate(planes)
    return av.VideoFrame.from_ndarray(flat.reshape(-1, width), format=frame.format.name)
