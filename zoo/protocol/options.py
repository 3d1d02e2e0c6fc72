"""The test-view options zoo-test, zoo-predict and zoo-extract share, built on the command-line convention's
argument types (:mod:`zoo.argtypes`)."""
from __future__ import annotations

import argparse

from zoo import argtypes, limits
from zoo.aggregation import AGGREGATIONS, unalias_aggregation
from zoo.protocol.settings import parse_resize
from zoo.records import COLOUR_RULES, CROP_RULES, RESIZE_FILTER_NAMES


def add_protocol_arguments(group) -> None:
    """The test-view options zoo-test and zoo-predict share: clips, crops, clip length, sampling and frame rate,
    resize, crop size, aggregation and the convolutional head (each defaults to the protocol when not given)."""
    group.add_argument("--clips", type=argtypes.clip_count, help="clips per video, uniformly spaced")
    group.add_argument("--crops", type=argtypes.positive_int, choices=(1, 3),
                       help="1 centre crop or 3 crops along the long side")
    group.add_argument("--clip-len", type=argtypes.clip_len, help="frames per clip")
    group.add_argument("--sampling-rate", type=argtypes.sampling_rate, help="frame step inside a clip")
    group.add_argument("--frame-rate", type=argtypes.frame_rate, help="resample videos to this fps first")
    group.add_argument("--resize", type=resize_type, help="short side (256) or exact HEIGHTxWIDTH (128x171)")
    group.add_argument("--crop-size", type=argtypes.side, help="crop size in pixels (at most the resized size)")
    group.add_argument("--aggregate", type=unalias_aggregation, choices=AGGREGATIONS,
                       help="view -> video score: mean, sum or max of the softmaxes, or mean of the logits (default: "
                            "the weights' protocol, else mean_softmax as VMZ; softmax_mean, sum, max, logit_mean "
                            "are accepted as aliases)")
    group.add_argument("--convolutional", action=argparse.BooleanOptionalAction, default=None,
                       help="Caffe2's convolutional test head: the training pool kernel at stride 1 over the larger "
                            "test crop, the classifier at every position (default: the weights' protocol; on for the "
                            "CSN 10x3 protocol)")
    add_pixel_rule_arguments(group)


def add_pixel_rule_arguments(group) -> None:
    """``--resize-filter``, ``--crop-rule``, ``--colour-rule`` and ``--upright`` (zoo-test, zoo-predict,
    zoo-extract); each defaults to the weights' protocol, then the checkpoint metadata, then the default."""
    group.add_argument("--resize-filter", choices=RESIZE_FILTER_NAMES,
                       help="libswscale FAST_BILINEAR (Caffe2) or BILINEAR in the decoder, or torch bilinear without "
                            "antialiasing on the decoded frame (torchvision's weights)")
    group.add_argument("--crop-rule", choices=CROP_RULES,
                       help="centre crop at (side - crop) // 2 (caffe2) or int((side - crop + 1) * 0.5) (torchvision)")
    group.add_argument("--colour-rule", "--color-rule", dest="colour_rule", choices=COLOUR_RULES,
                       help="YUV -> RGB: bt601 (limited range, full for yuvj: what the released models saw) or the "
                            "frame's own tag (frame_tag, as ffmpeg shows it)")
    group.add_argument("--upright", action=argparse.BooleanOptionalAction, default=None,
                       help="apply the video's display rotation (as ffmpeg shows it; default: the weights' protocol: "
                            "not under the VMZ and torchvision protocols, whose readers ignored it)")


def resize_type(text: str):
    """argparse type of ``--resize``: a positive short side or HEIGHTxWIDTH, in ASCII digits, at most
    :data:`zoo.limits.MAX_SIDE` pixels a side."""
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"expected sizes in ASCII digits, got {text!r}")
    try:
        value = parse_resize(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--resize {text!r}: ")) from None
    if any(v > limits.MAX_SIDE for v in (value if isinstance(value, (list, tuple)) else [value])):
        raise argparse.ArgumentTypeError(f"sizes must be at most {limits.MAX_SIDE} pixels, got {text!r}")
    return value


def protocol_overrides(args) -> dict:
    """The protocol values given on the command line (``None``: not given) of :func:`add_protocol_arguments`
    (and ``--short-videos`` where the tool has it), as :func:`resolve_settings` takes them."""
    return {"clip_len": args.clip_len, "sampling_rate": args.sampling_rate, "frame_rate": args.frame_rate,
            "resize": args.resize, "crop_size": args.crop_size,
            "num_clips": args.clips, "num_crops": args.crops, "aggregation": args.aggregate,
            "convolutional": args.convolutional, "short_videos": getattr(args, "short_videos", None),
            "resize_filter": args.resize_filter, "crop_rule": args.crop_rule, "colour_rule": args.colour_rule,
            "upright": args.upright}
