"""Colour rules: which YUV -> RGB conversion turns a decoded frame into pixels (:data:`COLOUR_RULES`).

* ``frame_tag`` -- the matrix and range the frame is tagged with (BT.709 for most HD video), as the ffmpeg CLI,
  players and PyAV 12+ convert.
* ``bt601`` -- what the released models saw: Caffe2's video decoder created its libswscale context without
  ``sws_setColorspaceDetails``, and the PyAV of torchvision's reference era did the same, so libswscale's
  defaults applied whatever the tag: the BT.601 matrix, limited range (16-235 luma), except for the formats
  libswscale itself treats as full range (``yuvj*`` and grey). A BT.709-tagged frame comes out up to ~30 levels
  different under the two rules.

RGB and palette sources have no matrix to choose: both rules give the same pixels for them.
"""
from __future__ import annotations

import av
from av.video.reformatter import ColorRange, Colorspace

from zoo.data.transforms import check_choice
from zoo.records import COLOUR_RULES


def is_full_range_format(fmt: av.VideoFormat) -> bool:
    """Whether libswscale takes ``fmt`` as full range by its format alone (``yuvj*``, grey with or without
    alpha), as it did for Caffe2."""
    return fmt.name.startswith("yuvj") or all(c.is_luma or c.is_alpha for c in fmt.components)


def colour_arguments(fmt: av.VideoFormat, rule: str) -> dict:
    """Keyword arguments of ``VideoReformatter.reformat`` that convert a ``fmt`` frame by ``rule``."""
    check_choice(rule, COLOUR_RULES, "colour rule")
    if rule == "frame_tag" or fmt.is_rgb or fmt.has_palette:
        return {}
    return {"src_colorspace": Colorspace.ITU601,
            "src_color_range": ColorRange.JPEG if is_full_range_format(fmt) else ColorRange.MPEG}
