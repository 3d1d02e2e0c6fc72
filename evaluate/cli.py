"""``zoo-test``: multi-clip, multi-crop evaluation of a checkpoint on a video dataset (VMZ test_net /
test_net_large)."""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import zoo
from zoo import argtypes, cli, limits
from zoo.console import say
from zoo.evaluate.report import SCORE_FORMATS
from zoo import guards
from zoo.amp import check_backend
from zoo.guards import check_writable_dir
from zoo.hub.errors import HubError
from zoo.protocol.options import add_protocol_arguments, protocol_overrides
from zoo.protocol.settings import check_classes, check_head, resolve_settings
from zoo.records import SHORT_VIDEO_RULES


def build_parser() -> argparse.ArgumentParser:
    p = cli.make_parser("zoo-test", __doc__)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="zoo checkpoint (.safetensors)")
    src.add_argument("--weights", help="released weights name (`zoo-hub list`) or hf-hub:ORG/REPO[@REVISION]; protocol defaults from its entry (an hf-hub repo's: its uploader's)")
    p.add_argument("--data-path", help="dataset root (ROOT/{split}/{class}/{video}), list file or CSV")
    p.add_argument("--split", default=None, help="split under --data-path: folder or {split}.csv (default: val; '' = class folders at the root)")
    p.add_argument("--fold", type=argtypes.positive_int, metavar="N",
                   help="evaluate DATA_PATH/test_foldN.csv (the per-fold lists of zoo-prepare ucf101|hmdb51); "
                        "replaces --split")
    g = p.add_argument_group("protocol (defaults: weights entry, then checkpoint metadata, then VMZ test_net)")
    add_protocol_arguments(g)
    g.add_argument("--short-videos", choices=SHORT_VIDEO_RULES,
                   help="videos shorter than one clip span: pad (repeat the last frame; counted in metrics.json), "
                        "skip (leave them out) or wrong (no clip, counted as a wrong prediction, as Caffe2 and "
                        "torchvision's reference did; default: the weights' protocol, else pad)")
    r = p.add_argument_group("running")
    r.add_argument("--large", action="store_true",
                   help="one video at a time, views in chunks sized to --max-memory (VMZ test_net_large)")
    r.add_argument("--max-memory", type=memory_size,
                   help="memory budget for --large, e.g. 8GiB (default: 80%% of free GPU memory / 50%% of RAM)")
    r.add_argument("--batch-videos", type=argtypes.batch_size, default=4,
                   help="videos per forward pass without --large")
    cli.add_device(r)
    r.add_argument("--workers", type=argtypes.workers, default=cli.default_workers(cap=8),
                   help="DataLoader decoding processes (0: in-process; default: the CPUs this machine offers, "
                        f"at most 8: {cli.default_workers(cap=8)})")
    r.add_argument("--amp", choices=cli.AMP_CHOICES, help="autocast dtype (torch backend)")
    r.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="onnx: export the checkpoint and run it with onnxruntime")
    r.add_argument("--limit", type=argtypes.positive_int, help="evaluate only the first N videos")
    o = p.add_argument_group("output")
    o.add_argument("--output", help="folder for metrics.json, scores, records, the confusion-matrix PNG and report.html "
                                    "(one self-contained page to open in a browser)")
    o.add_argument("--resume", action="store_true", help="continue a stopped run in --output")
    o.add_argument("--scores-format", choices=SCORE_FORMATS, default="npz", help="per-video scores file format")
    o.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress bar (--no-progress is the old spelling)")
    f = p.add_argument_group("summary over folds (instead of an evaluation)")
    f.add_argument("--folds", nargs="+", metavar="METRICS_JSON",
                   help="metrics.json of each fold's run: print mean and std of clip and video top-1 over them and "
                        "write OUTPUT/folds_summary.json and the page OUTPUT/folds_report.html (--output, default: "
                        "the current folder)")
    return p


def memory_size(text: str) -> int:
    """argparse type of ``--max-memory``: bytes from ``8GiB``, ``512M``..."""
    from zoo.evaluate.memory import parse_size

    if not text.isascii():
        raise argparse.ArgumentTypeError(f"expected a size in ASCII digits such as 8GiB, got {text!r}")
    try:
        size = parse_size(text)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1 or size > limits.MAX_MEMORY:
        raise argparse.ArgumentTypeError(f"must be 1 byte to 1 PiB, got {text}")
    return size


def load_samples(data_path: str, split: str | None, classes: list[str] | None, limit: int | None):
    """Dataset listing, checked before any work (wrong path, missing split, missing listed videos and
    class-name mismatches are errors from :func:`zoo.data.datasets.discover`)."""
    from zoo.data.datasets import discover

    samples, found_classes = discover(data_path, split=split or None, classes=classes, on_missing="error")
    if limit is not None:
        samples = samples[:limit]
    return samples, list(found_classes)


def _folds_summary(parser: argparse.ArgumentParser, args) -> int:
    """``--folds``: the cross-validation summary of the given metrics files."""
    from zoo.evaluate.folds import SUMMARY_FILE, FoldsError, format_summary, summarize_folds, write_summary

    given = [flag for flag, value in (("--checkpoint", args.checkpoint), ("--weights", args.weights),
                                      ("--data-path", args.data_path), ("--fold", args.fold)) if value]
    if given:
        parser.error(f"--folds summarises finished runs; it takes no {', '.join(given)}")
    out = Path(args.output or ".") / SUMMARY_FILE
    from zoo.evaluate.folds_page import FOLDS_REPORT_FILE

    for written in (out, out.parent / FOLDS_REPORT_FILE):
        if any(written.resolve() == Path(p).resolve() for p in args.folds):
            parser.error(f"{written} is one of the metrics files; choose another --output")
    try:
        summary = summarize_folds(args.folds)
    except FoldsError as exc:
        cli.print_error("zoo-test", str(exc))
        return 1
    except (FileNotFoundError, ValueError) as exc:
        cli.print_error("zoo-test", str(exc))
        return 2
    say(*format_summary(summary))
    say(f"summary in {write_summary(out, summary)}")
    from zoo.evaluate.folds_page import FOLDS_REPORT_FILE, write_folds_page

    say(f"report in {write_folds_page(out.parent / FOLDS_REPORT_FILE, summary)}")
    return 0


def build_predictor(args, ckpt: Path, setup, device: str, stack: contextlib.ExitStack):
    """The model of ``ckpt`` as ``--backend`` runs it: PyTorch (``--amp``, the convolutional head when the
    protocol has one) or onnxruntime on an export kept in a temporary folder that ``stack`` removes."""
    from zoo.evaluate.predictors import OnnxPredictor, TorchPredictor

    if args.backend == "onnx":
        from zoo.convert import to_onnx
        from zoo.evaluate.memory import arena_limit
        from zoo.onnxrt import model_bytes

        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zoo-test-onnx-")))
        onnx_path = to_onnx(ckpt, tmp / "model.onnx", clip_len=setup.spec.clip_len,
                            crop_size=setup.spec.crop_size, dynamic="batch")
        return OnnxPredictor(onnx_path, setup.mean, setup.std, device=device,
                             gpu_mem_limit=arena_limit(device, args.max_memory, model_bytes(onnx_path)))
    model = zoo.load_checkpoint(ckpt, device=device)
    return TorchPredictor(model, setup.mean, setup.std, device=device, amp=args.amp,
                          train_crop_size=setup.head_crop_size)


def _run(parser: argparse.ArgumentParser, args) -> int:
    if args.folds:   # reads JSON only: no torch
        return _folds_summary(parser, args)
    from zoo._io import sha256_of
    from zoo.distributed import init_distributed
    from zoo.evaluate.report import summary_table
    from zoo.evaluate.records import RunOutput
    from zoo.evaluate.runner import evaluate
    from zoo.options import RunOptions

    if not (args.checkpoint or args.weights):
        parser.error("one of the arguments --checkpoint --weights is required (or --folds)")
    if not args.data_path:
        parser.error("the following arguments are required: --data-path")
    if args.resume and not args.output:
        raise cli.UsageError("--resume needs --output (the folder of the stopped run)")
    check_backend(args.amp, args.backend)
    if args.output:
        check_writable_dir(args.output, "--output")
    from zoo.data.datasets import evaluation_split
    from zoo.factory import checkpoint_source

    env = init_distributed(cli.resolve_device(args.device))  # torchrun / srun / one process; cuda -> cuda:LOCAL_RANK
    device, rank = str(env.device), env.rank
    with contextlib.ExitStack() as stack:
        with cli.usage_errors():        # everything the user gave is checked before any work
            args.split = evaluation_split(args.data_path, args.fold, args.split, "val")
            ckpt, entry = checkpoint_source(args.checkpoint, args.weights)
            meta = zoo.read_checkpoint_meta(ckpt)
            setup = resolve_settings(meta, entry, protocol_overrides(args))
            samples, classes = load_samples(args.data_path, args.split, setup.classes, args.limit)
            classes = setup.classes or classes
            setup.classes = classes
            check_classes(setup, int(meta["num_classes"]), str(ckpt))
            check_head(setup, meta, args.backend)
            if args.output and rank == 0:
                stack.callback(output_lock(args.output).release)
        # the checkpoint's hash, not just its path: training rewrites best.safetensors in place, and a resumed
        # run must not mix scores of two models
        settings = {"checkpoint": str(ckpt.resolve()), "checkpoint_sha256": sha256_of(ckpt),
                    "weights": args.weights, "data_path": str(args.data_path),
                    "split": args.split, "aggregate": setup.aggregation, "backend": args.backend, "amp": args.amp,
                    "num_classes": len(classes), **setup.settings()}
        predictor = build_predictor(args, ckpt, setup, device, stack)
        log = (lambda message: say(message, file=sys.stderr)) if rank == 0 else (lambda message: None)
        run = RunOptions(device=predictor.memory_device, workers=args.workers, max_memory=args.max_memory,
                         progress=not args.quiet, log=log)
        output = RunOutput(args.output, resume=args.resume, settings=settings, scores_format=args.scores_format)
        metrics = evaluate(predictor, samples, classes, setup.spec, aggregate=setup.aggregation, large=args.large,
                           videos_per_batch=args.batch_videos, run=run, output=output)
        if metrics is not None and args.output:
            from zoo.evaluate.reproduction import describe_reproduction
            from zoo.evaluate.run_report import finish_run_report

            reproduction = describe_reproduction(setup, entry, protocol_overrides(args), weights=args.weights)
            report = finish_run_report(args.output, metrics, reproduction, samples, setup.spec)
    if metrics is None:
        return 0
    say(*summary_table(metrics))
    if args.output:
        say(f"results in {args.output}; open {report} in a browser")
    if samples and metrics["num_skipped"] and not (metrics["num_videos"] or metrics["num_unlabelled"]):
        cli.print_error("zoo-test", f"every one of the {metrics['num_skipped']} video(s) was skipped "
                        "(reasons above and in metrics.json)")
        return 1
    return 0


#: every file zoo-test writes into --output: the temporaries of these (and only these) a killed run left are removed
OUTPUT_FILES = ("metrics.json", "confusion_matrix.png", "report.html", *(f"scores.{fmt}" for fmt in SCORE_FORMATS))


def output_lock(output: str):
    """Hold ``OUTPUT/.zoo-test.lock`` for the run (a second zoo-test on the same folder is refused) and remove
    the temporary files of zoo-test's own outputs that a killed run left there (the lock proves no live zoo-test
    writes them; other files are never touched)."""
    from zoo._io import remove_stale_temps
    from zoo.evaluate.records import MERGED_RECORDS, RUN_FILE

    lock = guards.output_lock(output, "zoo-test")
    remove_stale_temps(output, 0, (RUN_FILE, MERGED_RECORDS, *OUTPUT_FILES))
    return lock


def main(argv=None) -> int:
    """Entry point of ``zoo-test``."""
    parser = build_parser()
    return cli.run_tool("zoo-test", parser, lambda args: _run(parser, args), argv, failures=(HubError,))


if __name__ == "__main__":
    sys.exit(main())
