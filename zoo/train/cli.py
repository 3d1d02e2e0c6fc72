"""``zoo-train`` / ``python -m zoo.train``: train or fine-tune a video model, on one process or under torchrun.

Examples::

    # 8 GPUs on one node (the torchvision reference command line)
    torchrun --nproc_per_node=8 -m zoo.train --data-path=/data/kinectics400 --kinetics-version="400" \\
        --batch-size=16 --cache-dataset --sync-bn --amp
    # one GPU or the CPU
    zoo-train --data-path=/data/kinectics400 --kinetics-version="400" --batch-size=8 --cache-dataset
    # fine-tune released weights on fold 1 of UCF101 (zoo-prepare ucf101): the transfer recipe, printed at the start
    zoo-train --data-path=ucf101/ --fold 1 --recipe finetune --weights r2plus1d_34.ig65m_ft_kinetics400_32f
    # transfer settings by hand: new head, BN frozen, small backbone lr
    zoo-train --data-path=/data/hmdb51 --weights r2plus1d_34.kinetics400_32f --new-head --freeze-bn \\
        --lr 0.001 --lr-mult stem=0 --lr-mult fc=10 --clip-len 32 --epochs 8

Defaults follow torchvision's ``references/video_classification/train.py`` (16 frames at 15 fps, 5 clips per
video per epoch, 128x171 resize, 112 crop, SGD 0.9, wd 1e-4, 10 warm-up epochs, decays at 20/30/40 of 45).
The default learning rate is the 64-GPU recipe's 0.64 scaled linearly to the number of processes
(0.01 per process). A run restarted with the same command resumes from ``OUTPUT_DIR/last.pt``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from zoo import argtypes, cli
from zoo.console import say
from zoo.argtypes import non_negative_float, non_negative_int, positive_float, positive_int
from zoo.train.config import TrainConfig
from zoo.train.recipes import RECIPES, apply_recipe, given_options
from zoo.train.schedule import LR_PER_PROCESS, SCHEDULERS, WARMUP_METHODS
from zoo.records import COLOUR_RULES


def _fraction(text: str) -> float:
    value = non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _lr_mult(text: str) -> tuple[str, float]:
    key, value = argtypes.key_value(text)
    if not isinstance(value, (int, float)) or value < 0:
        raise argparse.ArgumentTypeError(f"--lr-mult {text!r}: expected PREFIX=FACTOR with FACTOR >= 0")
    return key, float(value)


def _add_dataset_options(g) -> None:
    """Where the videos are: the dataset, its splits and folds, the metadata cache."""
    g.add_argument("--data-path", default=None,
                   help="dataset root (ROOT/{train,val}/{class}/{video}), or a VMZ list / Kinetics CSV file; "
                        "default: the built-in synthetic motion dataset (generated in the cache dir)")
    g.add_argument("--train-split", default=None, help="split to train on (default: train)")
    g.add_argument("--val-split", default=None, help="split to validate on (default: val); '' or 'none' to train "
                                                     "without validation")
    g.add_argument("--fold", type=positive_int, default=None, metavar="N",
                   help="train on DATA_PATH/train_foldN.csv and validate on test_foldN.csv (the per-fold lists "
                        "of zoo-prepare ucf101|hmdb51)")
    g.add_argument("--kinetics-version", choices=("400", "600", "700"), default=None,
                   help="check that the dataset has this many classes and record label_set=kineticsN")
    g.add_argument("--cache-dataset", action="store_true",
                   help="compute per-video metadata once (in parallel) and cache it in the user cache dir; "
                        "changed files are re-read; unusable videos are left out before training")
    g.add_argument("--cache-dir", default=None, help="metadata cache folder (default: $ZOO_CACHE_DIR or the "
                                                     "user cache dir)")

def _add_clip_options(g) -> None:
    """What a training or validation clip is: length, rates, sizes, crops, flips, colours."""
    g.add_argument("--clip-len", type=argtypes.clip_len, default=16, help="frames per clip")
    g.add_argument("--sampling-rate", type=argtypes.sampling_rate, default=1,
                   help="take every N-th frame (after --frame-rate)")
    g.add_argument("--frame-rate", type=argtypes.frame_rate_or_zero, default=15.0,
                   help="resample every video to this rate; 0 = native")
    g.add_argument("--clips-per-video", type=argtypes.clip_count, default=5,
                   help="random clips per video per epoch (new random starts every epoch)")
    g.add_argument("--train-resize-size", type=argtypes.side, nargs=2, default=(128, 171), metavar=("H", "W"),
                   help="fixed training resize (torchvision/VMZ-PT); ignored with --train-scale-jitter")
    g.add_argument("--train-scale-jitter", type=argtypes.side, nargs=2, default=None, metavar=("MIN", "MAX"),
                   help="random short side in [MIN, MAX] per clip (VMZ Caffe2: 128 160)")
    g.add_argument("--train-crop-size", type=argtypes.side, default=112, help="training crop (pixels)")
    g.add_argument("--no-flip", dest="flip", action="store_false", help="disable random horizontal flips")
    g.add_argument("--colour-rule", "--color-rule", dest="colour_rule", choices=COLOUR_RULES, default=None,
                   help="YUV -> RGB of the training and validation frames: bt601 (what the released models saw) or "
                        "frame_tag (the frame's own tag, as ffmpeg); default: the starting model's, else bt601; "
                        "recorded in the checkpoints")
    g.add_argument("--val-resize-size", type=argtypes.side, nargs="+", default=(128, 171), metavar="SIZE",
                   help="validation resize: H W, or one short side")
    g.add_argument("--val-crop-size", type=argtypes.side, default=112, help="validation crop (pixels)")
    g.add_argument("--val-clips-per-video", type=argtypes.clip_count, default=5,
                   help="uniform clips per validation video")
    g.add_argument("--val-crops", type=positive_int, choices=(1, 3), default=1, help="spatial crops per validation clip")

def _add_model_options(g) -> None:
    """The model: builder, starting weights, head, frozen BatchNorm, per-layer learning rates."""
    cli.add_model(g, help="builder name (default: r2plus1d_18, or the --weights/--checkpoint model)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--weights", default=None, help="start from released weights (a `zoo-hub list` name) or a pushed model (hf-hub:ORG/REPO[@REVISION])")
    src.add_argument("--checkpoint", default=None, help="start from a zoo .safetensors checkpoint")
    g.add_argument("--num-classes", type=argtypes.class_count, default=None,
                   help="output classes (default: the dataset's); a different head size than the weights' "
                        "gets a new, freshly initialised head")
    cli.add_model_options(g)
    g.add_argument("--new-head", action="store_true",
                   help="replace the classifier of --weights/--checkpoint with a fresh one for the dataset's classes, "
                        "even when the class count matches")
    g.add_argument("--freeze-bn", action="store_true",
                   help="keep BatchNorm statistics and affine parameters fixed (fine-tuning)")
    g.add_argument("--lr-mult", type=_lr_mult, action="append", default=[], metavar="PREFIX=FACTOR",
                   help="multiply the lr of parameters whose name starts with PREFIX (e.g. stem=0 layer4=0.1 "
                        "fc=10; 0 freezes them); repeatable, the longest matching prefix wins")

def _add_optimisation_options(g) -> None:
    """The optimiser, the learning-rate schedule, mixed precision."""
    g.add_argument("-b", "--batch-size", type=argtypes.batch_size, default=24, help="clips per process per step")
    g.add_argument("--accum-steps", type=argtypes.batch_size, default=1,
                   help="gradient accumulation (micro-batches per step)")
    g.add_argument("--epochs", type=argtypes.epochs, default=45, help="training epochs")
    g.add_argument("--lr", type=positive_float, default=None,
                   help=f"learning rate (default {LR_PER_PROCESS} x processes: 0.64 on 64 GPUs)")
    g.add_argument("--momentum", type=non_negative_float, default=0.9, help="SGD momentum")
    g.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    g.add_argument("--wd", "--weight-decay", dest="weight_decay", type=non_negative_float, default=1e-4,
                   help="weight decay")
    g.add_argument("--label-smoothing", type=_fraction, default=0.0, help="label smoothing in [0, 1)")
    g.add_argument("--lr-scheduler", choices=SCHEDULERS, default="multistep", help="learning-rate schedule")
    g.add_argument("--lr-milestones", type=argtypes.epoch, nargs="+", default=(20, 30, 40),
                   help="epochs (multistep)")
    g.add_argument("--lr-gamma", type=positive_float, default=0.1, help="decay factor at each milestone")
    g.add_argument("--lr-warmup-epochs", type=argtypes.epoch, default=10, help="warm-up epochs")
    g.add_argument("--lr-warmup-method", choices=WARMUP_METHODS, default="linear", help="warm-up shape")
    g.add_argument("--lr-warmup-decay", type=positive_float, default=0.001, help="warm-up start factor")
    g.add_argument("--amp", nargs="?", const="auto", default=None, choices=("auto", "bf16", "fp16"),
                   help="mixed precision: bf16, or fp16 with a GradScaler; bare --amp = fp16 on CUDA, bf16 on CPU")
    g.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm statistics across processes")

def _add_run_options(g) -> None:
    """Device, threads, seed, output, resuming, validation and checkpoint cadence, progress, timeouts."""
    g.add_argument("--device", default="auto", help="auto, cpu, cuda (cuda:LOCAL_RANK under torchrun)")
    g.add_argument("--threads", type=argtypes.positive_workers, default=None,
                   help="intra-op CPU threads of each process (default: torch's; torchrun sets OMP_NUM_THREADS=1)")
    g.add_argument("--seed", type=argtypes.seed, default=0, help="random seed")
    g.add_argument("--deterministic", "--use-deterministic-algorithms", dest="deterministic", action="store_true",
                   help="deterministic kernels (cudnn.benchmark off): a resumed run reproduces the same weights")
    g.add_argument("--output-dir", default=".", help="checkpoints and logs")
    g.add_argument("--resume", nargs="?", const="auto", default="auto", metavar="PATH",
                   help="training state to resume from; default: OUTPUT_DIR/last.pt if it exists")
    g.add_argument("--no-resume", dest="resume", action="store_const", const=None,
                   help="start from scratch even if OUTPUT_DIR holds a checkpoint (it is overwritten)")
    g.add_argument("--test-only", action="store_true",
                   help="only evaluate (the resumed state, --checkpoint or --weights) on the validation split")
    g.add_argument("--eval-every", type=non_negative_int, default=1,
                   help="validate every N epochs (0: only after the last)")
    g.add_argument("--checkpoint-every-steps", type=non_negative_int, default=0,
                   help="also save the training state every N optimizer steps inside an epoch (0: off)")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bar (a line every few seconds when the output is not a terminal)")
    g.add_argument("-q", "--quiet", dest="progress", action="store_false", help="no progress bar (= --no-progress)")
    g.add_argument("--dist-timeout", type=argtypes.float_range(0, 7 * 24 * 3600.0, "a week", strict=True),
                   default=1800.0, help="collective timeout (s)")
    g.add_argument("--index-timeout", type=argtypes.float_range(0, 7 * 24 * 3600.0, "a week", strict=True),
                   default=86400.0,
                   help="how long the other processes wait for rank 0 to index the dataset (--cache-dataset), in "
                        "seconds; that wait is not bound by --dist-timeout")

def build_parser() -> argparse.ArgumentParser:
    p = cli.make_parser("zoo-train", __doc__)
    data = p.add_argument_group("data")
    _add_dataset_options(data)
    _add_clip_options(data)
    data.add_argument("-j", "--workers", type=argtypes.workers, default=None,
                      help="data-loading workers per process (default: min(10, CPUs per process))")
    _add_model_options(p.add_argument_group("model"))
    g = p.add_argument_group("recipe")
    g.add_argument("--recipe", choices=RECIPES, default=None,
                   help="finetune: transfer settings (clip and sizes from the weights, new head, frozen BN, backbone "
                        "lr 10x below the head's, 8 epochs), printed at the start; every option given here wins")
    _add_optimisation_options(p.add_argument_group("optimisation"))
    _add_run_options(p.add_argument_group("run"))
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed options; ``--recipe`` values are filled in (``args.recipe_lines`` says where each comes from)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.recipe_lines = []
    if args.recipe:
        args.recipe_lines = apply_recipe(parser, args, given_options(build_parser(), argv))
    if args.accum_steps < 1:
        parser.error("--accum-steps must be >= 1")
    if args.batch_size < 1 or args.epochs < 1:
        parser.error("--batch-size and --epochs must be >= 1")
    if args.nesterov and args.momentum <= 0:
        parser.error("--nesterov needs --momentum > 0")
    if len(args.val_resize_size) not in (1, 2):
        parser.error("--val-resize-size takes H W or one short side")
    _check_sizes(parser, args)
    _resolve_splits(parser, args)
    return args


def _check_sizes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Crops that fit the frames they are cut from, and a scale-jitter range that is a range."""
    jitter = args.train_scale_jitter
    if jitter is not None and jitter[0] > jitter[1]:
        parser.error(f"--train-scale-jitter {jitter[0]} {jitter[1]}: MIN is larger than MAX")
    train_side, train_flag = ((jitter[0], "--train-scale-jitter MIN") if jitter is not None
                              else (min(args.train_resize_size), "--train-resize-size"))
    if args.train_crop_size > train_side:
        parser.error(f"--train-crop-size {args.train_crop_size} is larger than the {train_side}-pixel frames of "
                     f"{train_flag}")
    if args.val_crop_size > min(args.val_resize_size):
        parser.error(f"--val-crop-size {args.val_crop_size} is larger than the {min(args.val_resize_size)}-pixel "
                     "frames of --val-resize-size")


def _resolve_splits(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--fold N`` -> train_foldN / test_foldN; otherwise the train / val defaults."""
    from zoo.data.datasets import fold_splits

    if args.fold is None:
        args.train_split = "train" if args.train_split is None else args.train_split
        args.val_split = "val" if args.val_split is None else args.val_split
        return
    if args.data_path is None:
        parser.error("--fold needs --data-path (a folder written by zoo-prepare ucf101|hmdb51)")
    if args.train_split is not None or (args.val_split or "none").lower() != "none":
        parser.error("--fold N chooses the splits (train_foldN, test_foldN): drop --train-split/--val-split "
                     "(--val-split none is allowed)")
    train, test = fold_splits(args.fold)
    args.train_split = train
    args.val_split = test if args.val_split is None else args.val_split


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """The training configuration of a ``zoo-train`` command line (:func:`parse_args`, typed)."""
    return TrainConfig.from_args(parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zoo-train`` and ``python -m zoo.train``."""
    return cli.run_parsed("zoo-train", _run, parse_args(argv),
                          interrupted="interrupted; run the same command again to resume")


def _run(args: argparse.Namespace) -> int:
    from zoo.amp import check_amp
    from zoo.data.datasets import check_fold
    from zoo.data.errors import ClassMismatchError
    from zoo.hub.errors import HubError
    from zoo.train.loop import run  # heavy imports only once the command line is valid

    with cli.usage_errors(ClassMismatchError):   # what the user gave, checked before the first step
        check_amp(args.amp, cli.resolve_device(args.device))
        cli.check_model_options(args.model_option, args.model)
        if args.weights is not None:
            from zoo.hub.lookup import get_weights

            get_weights(args.weights)   # an hf-hub: name is downloaded and verified here
        if args.fold is not None:
            check_fold(args.data_path, args.fold)
        if args.checkpoint:
            _refuse_output_over_checkpoint(args)
    if args.recipe_lines and int(os.environ.get("RANK", "0")) == 0:
        say(*args.recipe_lines)
    try:
        return run(TrainConfig.from_args(args))
    except HubError as exc:
        raise RuntimeError(str(exc)) from exc
    except (ClassMismatchError, FileNotFoundError, ValueError) as exc:   # dataset and checkpoint problems
        raise cli.UsageError(cli.error_message(exc)) from exc


def _refuse_output_over_checkpoint(args: argparse.Namespace) -> None:
    """``--checkpoint`` must not be one of the files the run writes into ``--output-dir`` (``last.safetensors``,
    ``best.safetensors``, ...): fine-tuning would replace the model it started from."""
    from zoo.guards import refuse_same_file
    from zoo.train.checkpointing import output_files

    out, name = Path(args.output_dir), Path(args.checkpoint).name
    for output in (out / n for n in output_files(args.epochs)):
        if output.name == name or output.exists():
            refuse_same_file(output, [args.checkpoint], "--output-dir")
