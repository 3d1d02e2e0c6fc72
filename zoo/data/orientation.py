"""Display orientation: the quarter turns, and the mirror, a player applies to a stored frame before showing it.

Phone videos store their frames as the sensor saw them plus a display matrix (in MP4 the track header's
matrix, also written by ``ffmpeg -metadata:s:v rotate=N`` or ``-display_rotation``); front cameras and
editors also write mirrored matrices (a rotation combined with a flip, e.g. the transposing ``[0 1; 1 0]``).
The ffmpeg CLI, players and decord show such frames upright; so does this package, for all eight
orientations, exactly as the ffmpeg CLI's autorotation does (:func:`matrix_orientation`). Rotations are
counter-clockwise degrees as ffprobe prints them and as PyAV's ``VideoFrame.rotation`` reports them; 90 and
270 swap width and height; ``mirror`` is a left-right flip applied after the turn. Angles that are not a
multiple of 90 degrees are not applied (ffmpeg would rotate inside the same frame size, cutting corners).
"""
from __future__ import annotations

import math
import struct

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


def matrix_orientation(matrix: bytes | None) -> tuple[float, bool]:
    """``(rotation, mirror)`` that a display matrix (9 native-endian int32, as libavutil stores it) asks for:
    the counter-clockwise turn (possibly not a right angle) and whether a left-right flip follows it. The
    same cases as the ffmpeg CLI's autorotation (a transpose for a mirrored quarter turn, hflip/vflip for a
    mirrored half turn or none); ``(0.0, False)`` without a matrix."""
    if not matrix or len(matrix) < 36:
        return 0.0, False
    m = struct.unpack("=9i", bytes(matrix[:36]))
    a, b, c, d = (v / 65536.0 for v in (m[0], m[1], m[3], m[4]))
    sx, sy = math.hypot(a, c), math.hypot(b, d)
    if not sx or not sy:
        return 0.0, False
    clockwise = -round(-math.degrees(math.atan2(b / sy, a / sx)))  # ffmpeg's theta (get_rotation)
    clockwise -= 360 * math.floor(clockwise / 360 + 0.9 / 360)
    if abs(clockwise - 90) < 1.0:  # transpose=cclock_flip when m[3] > 0, else transpose=clock
        return (270, True) if m[3] > 0 else (270, False)
    if abs(clockwise - 180) < 1.0:  # hflip when m[0] < 0, vflip when m[4] < 0
        return {(True, True): (180, False), (True, False): (0, True), (False, True): (180, True),
                (False, False): (0, False)}[(m[0] < 0, m[4] < 0)]
    if abs(clockwise - 270) < 1.0:  # transpose=clock_flip when m[3] < 0, else transpose=cclock
        return (90, True) if m[3] < 0 else (90, False)
    if abs(clockwise) < 1.0:  # vflip when m[4] < 0
        return (180, True) if m[4] < 0 else (0, False)
    return -float(clockwise), False


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """``(width, height)`` as shown after ``rotation`` degrees."""
    return (height, width) if rotation % 180 else (width, height)


def rotate_rgb(frame: np.ndarray, rotation: int, mirror: bool = False) -> np.ndarray:
    """An ``(H, W, C)`` array turned ``rotation`` degrees counter-clockwise, then flipped left-right when
    ``mirror`` (a view; no copy)."""
    turns = rotation // 90 % 4
    frame = np.rot90(frame, turns) if turns else frame
    return frame[:, ::-1] if mirror else frame


def rotate_frame(frame: av.VideoFrame, rotation: int, mirror: bool = False) -> av.VideoFrame:
    """A new planar-YUV ``VideoFrame`` (e.g. yuv420p, even sizes) turned ``rotation`` degrees
    counter-clockwise (then flipped left-right when ``mirror``), with no display matrix; ``frame`` itself
    when there is nothing to do."""
    turns = rotation // 90 % 4
    if not turns and not mirror:
        return frame
    planes = []
    for plane in frame.planes:
        data = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
        planes.append(rotate_rgb(data, rotation, mirror).ravel())
    width, height = display_size(frame.width, frame.height, rotation)
    flat = np.concatenate(planes)
    return av.VideoFrame.from_ndarray(flat.reshape(-1, width), format=frame.format.name)
