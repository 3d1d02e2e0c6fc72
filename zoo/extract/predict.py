"""``zoo-predict``: top-k classes of individual videos, and penultimate-layer features (the test views through
the extraction engine of ``zoo-extract``, :mod:`zoo.extract`)."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import zoo
from zoo import argtypes, cli
from zoo.console import say
from zoo.guards import check_video_files, check_writable, refuse_same_file
from zoo.hub.errors import HubError
from zoo.options import RunOptions
from zoo.protocol.options import add_protocol_arguments, protocol_overrides
from zoo.protocol.settings import check_classes, check_head, resolve_settings

if TYPE_CHECKING:   # torch, numpy and the engine are imported when a command runs (fast --help)
    import numpy as np
    import torch

    from zoo.extract.engine import VideoFeatures

FEATURE_FORMATS = (".npy", ".safetensors")


def build_parser() -> argparse.ArgumentParser:
    p = cli.make_parser("zoo-predict", __doc__)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files to classify")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="zoo checkpoint (.safetensors)")
    src.add_argument("--weights", help="released weights name (`zoo-hub list`) or hf-hub:ORG/REPO[@REVISION]")
    p.add_argument("--topk", type=argtypes.class_count, default=5, help="classes to print per video")
    p.add_argument("--features", metavar="OUT", help="write penultimate features to OUT (.npy or .safetensors)")
    p.add_argument("--feature-level", choices=("video", "clip"), default="video",
                   help="video: mean over views (N, D); clip: every view (N, V, D)")
    add_protocol_arguments(p.add_argument_group("protocol (defaults: weights entry, then checkpoint metadata, "
                                                "then VMZ test_net)"))
    cli.add_device(p)
    p.add_argument("--amp", choices=cli.AMP_CHOICES, help="autocast dtype")
    p.add_argument("--json", action="store_true", help="print one JSON object per video instead of text")
    p.add_argument("--report", metavar="PAGE", help="write one VIDEO's page (self-contained HTML): top classes, the "
                                                    "protocol, the views as the model received them and, with "
                                                    "--stride/--stride-sec, a timeline of the top classes")
    w = p.add_argument_group("sliding windows (instead of the test views)").add_mutually_exclusive_group()
    w.add_argument("--stride", type=argtypes.frame_count, metavar="N",
                   help="score windows of --clip-len frames every N frames over the whole video (one centre crop "
                        "each), the video's score aggregated over them")
    w.add_argument("--stride-sec", type=argtypes.positive_seconds, metavar="S",
                   help="the same, a window every S seconds")
    cli.add_quiet(p)
    return p


def top_classes(scores: torch.Tensor, classes: list[str], k: int) -> list[tuple[str, float]]:
    """The ``k`` best (class name, score) pairs of a ``(C,)`` score vector."""
    import torch

    values, indices = torch.topk(scores, min(k, scores.numel()))
    return [(classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]


def save_features(path: str | Path, features: list[np.ndarray | None], videos: list[str]) -> Path:
    """Stack per-video features in command-line order (NaN rows for videos that failed) and write them."""
    import numpy as np

    from zoo._io import atomic_path

    path = Path(path)
    if path.suffix not in FEATURE_FORMATS:
        raise ValueError(f"--features {path}: use a .npy or .safetensors file name")
    shape = next(f.shape for f in features if f is not None)
    stacked = np.stack([f if f is not None else np.full(shape, np.nan, np.float32) for f in features])
    with atomic_path(path) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, stacked.astype(np.float32), allow_pickle=False)
        else:
            from safetensors.numpy import save_file

            save_file({"features": stacked.astype(np.float32)}, str(tmp), metadata={"videos": json.dumps(videos)})
    return path


def check_inputs_and_outputs(args, ckpt) -> None:
    """The videos are files, and ``--features`` / ``--report`` can be written without touching an input."""
    if args.features:
        if Path(args.features).suffix not in FEATURE_FORMATS:
            raise ValueError(f"--features {args.features}: use a .npy or .safetensors file name")
        refuse_same_file(args.features, [ckpt, *args.videos], flag="--features")
        check_writable(args.features, flag="--features")
    folders = [v for v in args.videos if Path(v).is_dir()]
    if folders:
        raise IsADirectoryError(f"{', '.join(folders)}: a folder, not a video file (give the files, e.g. "
                                "DIR/*.mp4)")
    check_video_files(args.videos)
    if args.report:
        if len(args.videos) != 1:
            raise ValueError(f"--report writes one video's page: give one VIDEO, not {len(args.videos)}")
        refuse_same_file(args.report, [ckpt, *args.videos], flag="--report")
        check_writable(args.report, flag="--report")


def window_spec(args, setup):
    """The test views of ``setup``, or with ``--stride``/``--stride-sec`` sliding windows of one centre crop,
    as the extraction engine of zoo-extract takes them."""
    from zoo.extract.windows import WindowSpec

    if args.stride is None and args.stride_sec is None:
        return WindowSpec(setup.spec, views=True)
    if args.crops not in (None, 1) or args.clips is not None:
        raise ValueError("--stride/--stride-sec score every window of the video, one centre crop each: drop "
                         "--clips and --crops")
    return WindowSpec(replace(setup.spec, num_clips=1, num_crops=1), stride=args.stride, stride_sec=args.stride_sec)


def _run(args) -> int:
    import numpy as np
    import torch

    from zoo.aggregation import aggregate_views
    from zoo.factory import checkpoint_source
    from zoo.extract.api import protocol_model
    from zoo.extract.windows_dataset import VideoJob
    from zoo.extract.engine import extract_windows
    from zoo.extract.tap_predictor import layer_predictor
    from zoo.report.video_page import MiddleFrameRecorder, write_video_page

    device = cli.resolve_device(args.device)
    with cli.usage_errors():   # everything the user gave is checked before any work
        ckpt, entry = checkpoint_source(args.checkpoint, args.weights)
        meta = zoo.read_checkpoint_meta(ckpt)
        setup = resolve_settings(meta, entry, protocol_overrides(args))
        num_classes = int(meta["num_classes"])
        check_classes(setup, num_classes, str(ckpt))
        check_head(setup, meta)
        check_inputs_and_outputs(args, ckpt)
        spec = window_spec(args, setup)
        sliding = not spec.views
    classes = setup.classes or [f"class_{i}" for i in range(num_classes)]
    model = protocol_model(zoo.load_checkpoint(ckpt, device=device), spec, setup)
    features: dict[int, np.ndarray] = {}
    failures = 0

    def report(result: VideoFeatures) -> None:
        nonlocal failures
        video = result.job.path
        if result.error is not None:
            say(f"zoo-predict: {video}: skipped ({result.error})", file=sys.stderr)
            failures += 1
            return
        logits = torch.from_numpy(result.features["logits"].reshape(-1, num_classes))
        if args.features:
            feats = result.features["pool5"].reshape(logits.shape[0], -1)      # (views, D), clip-major
            features[result.job.index] = feats if args.feature_level == "clip" else feats.mean(axis=0)
        best = top_classes(aggregate_views(logits, setup.aggregation), classes, args.topk)
        if args.report:
            timeline = (result.start, result.end, torch.softmax(logits, dim=1).numpy()) if sliding else None
            shown = dict(spec.settings(), aggregation=setup.aggregation, convolutional=setup.convolutional,
                         mean=setup.mean, std=setup.std)
            page = write_video_page(args.report, video, best, shown, recorder.middle_frames(spec.crops), timeline,
                                    classes)
            say(f"zoo-predict: report in {page}", file=sys.stderr)
        if args.json:
            say(json.dumps({"video": video, "top": [{"class": c, "score": s} for c, s in best]}))
        else:     # names from the checkpoint and the command line: each inside its own line
            say(video, *(f"  {rank}. {name}  {score:.4f}" for rank, (name, score) in enumerate(best, 1)))

    # the extraction engine of zoo-extract: every video's test views, one forward pass per batch of windows
    run = RunOptions.quiet(device=device, amp=args.amp)
    predictor, tap = layer_predictor(model, ["pool5", "logits"] if args.features else ["logits"], setup.mean,
                                     setup.std, run=run)
    if args.report:   # keep the middle frame of every view the model scores, for the page's views strip
        predictor = recorder = MiddleFrameRecorder(predictor)
    jobs = [VideoJob(i, video, video) for i, video in enumerate(args.videos)]
    extract_windows(predictor, lambda: tap.layout, jobs, spec, report, run=run.on(predictor.device))
    if args.features and features:
        out = save_features(args.features, [features.get(i) for i in range(len(args.videos))], list(args.videos))
        say(f"features ({args.feature_level} level) -> {out}", file=sys.stderr)
    if failures == len(args.videos):
        cli.print_error("zoo-predict", f"none of the {failures} video(s) could be read")
    return 1 if failures else 0


def main(argv=None) -> int:
    """Entry point of ``zoo-predict``."""
    return cli.run_tool("zoo-predict", build_parser(), _run, argv, failures=(HubError,))


if __name__ == "__main__":
    sys.exit(main())
