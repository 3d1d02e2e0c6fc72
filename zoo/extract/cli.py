"""``zoo-extract``: features from any layers of a model for a whole dataset, windowed over time, one file per
video with the window times, an index, resumable and sharded over torchrun ranks."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import zoo
from zoo import argtypes, cli
from zoo.console import say
from zoo._io import sha256_of
from zoo.amp import check_backend
from zoo.evaluate.cli import memory_size
from zoo.guards import check_video_files
from zoo.extract.options import BACKENDS, FORMATS, POOL_SPATIAL, REDUCTIONS, WindowRequest
from zoo.hub.errors import HubError
from zoo.options import RunOptions
from zoo.protocol.options import add_pixel_rule_arguments, resize_type
from zoo.records import SHORT_VIDEO_RULES

EPILOG = """examples:
  zoo-extract --data-path kinetics400/ --split val --weights r2plus1d_34.ig65m_ft_kinetics400_32f \\
      --layers pool5,logits --window 32 --stride 16 --output feats/ --workers 8
  zoo-extract videos/*.mp4 --checkpoint mine.safetensors --clips 10 --crops 3 --reduce mean --output feats/
  torchrun --nproc_per_node=8 -m zoo.extract --data-path ... --checkpoint ... --output feats/
"""


def build_parser():
    p = cli.make_parser("zoo-extract", __doc__, epilog=EPILOG)
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="video files, or one .txt file listing video paths")
    p.add_argument("--data-path", help="dataset: ROOT/{split}/{class}/{video}, VMZ list file (dense start_frm "
                                       "rows too), Kinetics CSV or VMZ video LMDB")
    p.add_argument("--split", help="split under --data-path (folder or {split}.csv)")
    p.add_argument("--fold", type=argtypes.positive_int, metavar="N",
                   help="the videos of DATA_PATH/test_foldN.csv (per-fold lists of zoo-prepare ucf101|hmdb51); "
                        "for a fold's training videos give --split train_foldN")
    p.add_argument("--limit", type=argtypes.positive_int, help="only the first N videos")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="zoo checkpoint (.safetensors)")
    src.add_argument("--weights", help="released weights name from weights.json, or hf-hub:ORG/REPO[@REVISION]")
    f = p.add_argument_group("features")
    f.add_argument("--layers", default="pool5", help="comma-separated module names or aliases: stem, layer1..layer4, "
                                                    "pool5/avgpool/final_avg, logits/fc/last_out_L<N>, softmax")
    f.add_argument("--pool-spatial", choices=POOL_SPATIAL, help="pool spatial maps over H and W: (N, C, T)")
    f.add_argument("--reduce", choices=REDUCTIONS, default="none", help="over the windows of a video")
    t = p.add_argument_group("windows (defaults: weights entry, then checkpoint metadata, then VMZ test_net)")
    t.add_argument("--window", type=argtypes.clip_len, help="frames per window (the clip length)")
    t.add_argument("--sampling-rate", type=argtypes.sampling_rate, help="frame step inside a window")
    t.add_argument("--stride", type=argtypes.frame_count,
                   help="frames between window starts (default: window x sampling rate)")
    t.add_argument("--stride-sec", type=argtypes.positive_seconds,
                   help="seconds between window starts (variable frame rate safe)")
    t.add_argument("--frame-rate", type=argtypes.frame_rate, help="resample videos to this fps first")
    t.add_argument("--drop-last", action="store_true", help="drop the last partial window instead of padding it")
    t.add_argument("--clips", type=argtypes.clip_count,
                   help="instead of sliding windows: the evaluator's uniformly placed clips")
    t.add_argument("--crops", type=argtypes.positive_int, choices=(1, 3), help="crops per clip with --clips")
    t.add_argument("--convolutional", action=argparse.BooleanOptionalAction, default=None,
                   help="with --clips: logits from Caffe2's convolutional test head, as zoo-test (default: the "
                        "weights' protocol)")
    t.add_argument("--short-videos", choices=SHORT_VIDEO_RULES[:2], default="pad",
                   help="videos shorter than one window: pad (repeat the last frame) or skip")
    s = p.add_argument_group("frames")
    s.add_argument("--resize", type=resize_type, help="short side (256) or HEIGHTxWIDTH (128x171)")
    s.add_argument("--crop-size", type=argtypes.side, help="centre crop in pixels")
    s.add_argument("--full-frame", action="store_true", help="no crop: the whole resized frame (fully convolutional)")
    add_pixel_rule_arguments(s)
    o = p.add_argument_group("output")
    o.add_argument("--output", required=True, help="folder for the per-video files, index.jsonl/csv and run.json")
    o.add_argument("--format", choices=[x.lstrip(".") for x in FORMATS], default="safetensors",
                   help="safetensors: one file per video; npy: one array per layer plus a .json with the times")
    o.add_argument("--resume", action="store_true", help="continue the run in --output (a plain re-run does too; "
                                                         "--resume also insists that there is one)")
    r = p.add_argument_group("running")
    cli.add_device(r)
    r.add_argument("--workers", type=argtypes.workers, default=cli.default_workers(cap=8),
                   help="decoding processes (0: in-process)")
    r.add_argument("--batch-windows", type=argtypes.batch_size, default=32,
                   help="windows per forward pass, across videos")
    r.add_argument("--max-memory", type=memory_size, help="memory budget per forward, e.g. 8GiB: windows run in "
                                                         "chunks measured to fit (zoo-test --large)")
    r.add_argument("--amp", choices=cli.AMP_CHOICES, help="autocast dtype (torch backend)")
    r.add_argument("--backend", choices=BACKENDS, default="torch", help="onnx: export the layers, run onnxruntime")
    cli.add_quiet(r)
    return p


def read_video_list(path: Path) -> list[Path]:
    """Paths listed one per line in a text file (relative ones are relative to its folder; # comments)."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [(Path(x) if Path(x).is_absolute() else path.parent / x) for x in lines if x and not x.startswith("#")]


def collect_jobs(args, classes) -> list:
    """:class:`~zoo.extract.windows_dataset.VideoJob` s from ``--data-path`` (dense rows of one video grouped into one job)
    or the video arguments."""
    from zoo.extract.windows_dataset import VideoJob

    if args.data_path and args.videos:
        raise ValueError("give either --data-path or video files, not both")
    if args.data_path:
        from zoo.data.datasets import discover, evaluation_split

        split = evaluation_split(args.data_path, args.fold, args.split, None)
        samples, _ = discover(args.data_path, split=split or None, classes=classes, on_missing="error")
        grouped: dict[str, list] = {}
        for sample in samples:
            grouped.setdefault(str(sample.path), []).append(sample)
        jobs = []
        for i, (path, rows) in enumerate(grouped.items()):
            dense = [r.start_frame for r in rows if r.start_frame is not None]
            if dense and len(dense) != len(rows):
                raise ValueError(f"{args.data_path}: {path} has rows with and without start_frm")
            jobs.append(VideoJob(i, path, rows[0].video_id, rows[0].label, tuple(dense) if dense else None))
    else:
        if not args.videos:
            raise ValueError("no input: give video files, a .txt list of them, or --data-path")
        paths = [Path(v) for v in args.videos]
        if len(paths) == 1 and paths[0].suffix.lower() == ".txt":
            paths = read_video_list(paths[0])
        check_video_files(paths)
        jobs = [VideoJob(i, str(p), str(p)) for i, p in enumerate(dict.fromkeys(paths))]
    return jobs[:args.limit] if args.limit is not None else jobs


def window_request(args) -> WindowRequest:
    """The windows the command line asks for (its ``--window`` ... ``--upright``; ``--drop-last`` is
    ``pad_last=False``)."""
    given = {name: getattr(args, name) for name in ("window", "sampling_rate", "stride", "stride_sec", "frame_rate",
                                                    "clips", "crops", "convolutional", "short_videos", "resize",
                                                    "crop_size", "full_frame", "resize_filter", "crop_rule",
                                                    "colour_rule", "upright")}
    return WindowRequest(**given, pad_last=not args.drop_last)


def _run(args) -> int:
    # torch and the engine are imported here, when a command runs: --help stays fast
    from zoo.distributed import init_distributed, shutdown
    from zoo.factory import checkpoint_source
    from zoo.protocol.settings import check_classes
    from zoo.extract.api import input_shape, protocol_model, window_spec_from
    from zoo.extract.folder import extract_to_folder
    from zoo.extract.output import FeatureWriter
    from zoo.extract.taps import parse_layers, resolve_layer
    from zoo.extract.tap_predictor import layer_predictor

    check_backend(args.amp, args.backend)
    device = cli.resolve_device(args.device)
    env = init_distributed(device)        # torchrun / srun / one process; cuda -> cuda:LOCAL_RANK
    try:
        log = (lambda m: say(m, file=sys.stderr)) if env.rank == 0 else (lambda m: None)   # skips, resume
        with cli.usage_errors():           # everything the user gave is checked before any work
            ckpt, entry = checkpoint_source(args.checkpoint, args.weights)
            meta = zoo.read_checkpoint_meta(ckpt)
            layers = parse_layers(args.layers)
            spec, setup = window_spec_from(meta, window_request(args), entry)
            check_classes(setup, int(meta["num_classes"]), str(ckpt))
            jobs = collect_jobs(args, setup.classes)
            model = protocol_model(zoo.load_checkpoint(ckpt, device=str(env.device) if args.backend == "torch"
                                                       else "cpu"), spec, setup)
            for name in layers:
                resolve_layer(model, name)
        fmt = "." + args.format
        settings = {"layers": layers, "pool_spatial": args.pool_spatial, "reduce": args.reduce, "format": fmt,
                    "backend": args.backend, "amp": args.amp, "checkpoint_sha256": sha256_of(ckpt),
                    "mean": setup.mean, "std": setup.std, "convolutional_head": setup.head_crop_size if spec.views else None,
                    **spec.settings()}
        run = RunOptions(device=env.device, workers=args.workers, max_memory=args.max_memory, amp=args.amp,
                         backend=args.backend, progress=not args.quiet, log=log)
        with contextlib.ExitStack() as stack:
            predictor, tap = layer_predictor(model, layers, setup.mean, setup.std, pool_spatial=args.pool_spatial,
                                             run=run, input_shape=input_shape(spec), stack=stack)
            # a changed-settings refusal (ResumeMismatchError) is a UsageError: exit 2 through cli.run_tool
            writer = FeatureWriter(args.output, fmt, settings)
            result = extract_to_folder(predictor, lambda: tap.layout, jobs, spec, writer, layers=layers, resume=args.resume, reduce=args.reduce,
                                       batch_windows=args.batch_windows, run=run.on(predictor.memory_device))
    finally:
        shutdown()
    if result is None:      # ranks other than 0
        return 0
    records = result["records"]
    ok = sum(r["status"] == "ok" for r in records)
    total = result["total"]
    rate = total["windows"] / total["total_s"] if total["total_s"] else 0.0
    skipped = len(records) - ok
    say(f"{ok} of {len(records)} videos have features in {args.output} ({total['windows']} windows extracted "
        f"now, {rate:.1f} windows/s); {skipped} skipped" + (" (see index.csv)" if skipped else ""))
    if records and not ok:
        cli.print_error("zoo-extract", f"none of the {len(records)} video(s) could be read")
        return 1
    return 0


def main(argv=None) -> int:
    """Entry point of ``zoo-extract`` (and ``python -m zoo.extract``)."""
    return cli.run_tool("zoo-extract", build_parser(), _run, argv, failures=(HubError,))


if __name__ == "__main__":
    sys.exit(main())
