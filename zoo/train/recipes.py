"""``zoo-train --recipe NAME``: a named set of option values; any option given on the command line wins.

``finetune`` is transfer from pretrained weights to a small dataset such as HMDB51 or UCF101, after VMZ's
``hmdb51_finetune`` tutorial (Kinetics R(2+1)D-34, short step schedule, all layers trained), its PyTorch
port's ``--finetune`` (new head, backbone learning rate far below the head's) and the frozen-BN CSN
fine-tuning of later work:

* the clip (length, sampling rate, frame rate) and the frame sizes of the weights' own protocol, so the
  backbone sees what it was trained on; a short-side resize ``S`` becomes a random short side in
  ``[S, 1.25 S]`` for training (VMZ's 128-160 jitter for 112 crops);
* a new, freshly initialised head for the dataset's classes, even when the class count matches;
* BatchNorm statistics and affine parameters frozen (small batches of a small dataset);
* SGD with Nesterov momentum 0.9, weight decay 1e-4, 8 clips per process, backbone learning rate 0.001 per
  process and 10x that for the head (``fc``);
* 8 epochs of 5 clips per video: 1 warm-up epoch from 0.1x, decays by 10x at epochs 4 and 6;
* validation only after the last epoch with VMZ's test protocol (10 clips x 1 centre crop), so the saved
  ``best`` model is the last one and never chosen on the test fold.
"""
from __future__ import annotations

import argparse
import os
from typing import Sequence

from zoo.records import Preprocessing

RECIPES = ("finetune",)

#: settings of the finetune recipe that do not depend on the weights (per process where it matters)
FINETUNE_FIXED = {
    "new_head": True, "freeze_bn": True, "batch_size": 8, "lr_per_process": 0.001, "lr_mult": [("fc", 10.0)],
    "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "epochs": 8, "clips_per_video": 5,
    "lr_scheduler": "multistep", "lr_warmup_epochs": 1.0, "lr_warmup_method": "linear", "lr_warmup_decay": 0.1,
    "lr_milestones": [4.0, 6.0], "lr_gamma": 0.1, "val_clips_per_video": 10, "val_crops": 1, "eval_every": 0,
}
#: short-side training jitter range as a multiple of the weights' test short side
JITTER = 1.25


def given_options(probe: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Destinations of the options present in ``argv``; ``probe`` is a fresh copy of the parser (its defaults
    are suppressed, so only options on the command line end up in the namespace)."""
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_known_args(list(argv))[0]))


def source_preprocessing(args: argparse.Namespace) -> Preprocessing:
    """How the clips of ``--weights`` (its weights.json entry) or ``--checkpoint`` (its header) were made."""
    if args.weights:
        from zoo.hub.lookup import get_weights

        return get_weights(args.weights).preprocessing
    from zoo.checkpoint import read_checkpoint_meta   # torch: only when a recipe is applied

    return Preprocessing.from_dict(read_checkpoint_meta(args.checkpoint), str(args.checkpoint))


def finetune_values(pre: Preprocessing, world_size: int) -> dict[str, tuple[object, str]]:
    """Option -> (value, where it comes from) for the finetune recipe from weights made with ``pre``."""
    values: dict[str, tuple[object, str]] = {}
    for key, value in FINETUNE_FIXED.items():
        if key == "lr_per_process":
            values["lr"] = (value * world_size, f"recipe: {value} x {world_size} process(es)")
        else:
            values[key] = (value, "recipe")
    for key in ("clip_len", "sampling_rate"):
        if getattr(pre, key):
            values[key] = (int(getattr(pre, key)), "weights")
    values["frame_rate"] = (float(pre.frame_rate), "weights") if pre.frame_rate else \
        (0.0, "weights (native frame rate)")
    resize, crop = pre.resize, pre.crop_size
    if isinstance(resize, int):
        values["train_scale_jitter"] = ([resize, round(resize * JITTER)], f"weights: short side {resize} .. x{JITTER}")
        values["val_resize_size"] = ([resize], "weights")
    elif isinstance(resize, (list, tuple)) and len(resize) == 2:
        values["train_resize_size"] = (list(resize), "weights")
        values["val_resize_size"] = (list(resize), "weights")
    if crop:
        values["train_crop_size"] = (int(crop), "weights")
        values["val_crop_size"] = (int(crop), "weights")
    return values


def apply_recipe(parser: argparse.ArgumentParser, args: argparse.Namespace, given: set[str]) -> list[str]:
    """Fill ``args`` with the recipe's values for every option not in ``given`` (see :func:`given_options`).

    Returns the printable table (one line per setting, saying whether it comes from the recipe, the weights
    or the command line) and stores the applied settings in ``args.recipe_settings``.
    """
    if args.recipe != "finetune":
        parser.error(f"unknown --recipe {args.recipe!r} (choose from {', '.join(RECIPES)})")
    if not (args.weights or args.checkpoint):
        parser.error("--recipe finetune needs the weights to start from: --weights NAME or --checkpoint FILE")
    try:
        pre = source_preprocessing(args)
    except (KeyError, FileNotFoundError, ValueError, OSError) as exc:
        parser.error(f"--recipe finetune: cannot read {args.weights or args.checkpoint}: "
                     f"{exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    values = finetune_values(pre, world_size)
    if "train_resize_size" in given or "train_scale_jitter" in given:   # one training resize, as given
        values.pop("train_scale_jitter", None)
        values.pop("train_resize_size", None)
    for key in ("clip_len", "sampling_rate"):
        values.setdefault(key, (getattr(args, key), "default: the weights do not say"))
    lines, applied = [f"zoo-train: recipe finetune from {args.weights or args.checkpoint}:"], {}
    for key, (value, origin) in values.items():
        if key in given:
            value, origin = getattr(args, key), "command line"
        else:
            setattr(args, key, value)
        applied[key] = value
        lines.append(f"  --{key.replace('_', '-'):<22} {_show(value):<20} ({origin})")
    args.recipe_settings = applied
    return lines


def _show(value) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return " ".join(f"{k}={v:g}" for k, v in value)
    if isinstance(value, (list, tuple)):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)
