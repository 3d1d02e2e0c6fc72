"""``zoo-convert``: legacy Caffe2 pickles/MiniDBs, torchvision ``.pth`` files, zoo checkpoints and ONNX."""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from typing import Any, Sequence

from zoo import cli
from zoo.convert import pipelines
from zoo.convert.inspect import format_report, inspect_file
from zoo.convert.onnx_export import to_onnx


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option needs KEY=VALUE, not {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_model_args(p: argparse.ArgumentParser, with_drop: bool = True) -> None:
    p.add_argument("--arch", default="auto", help="model name (see zoo.list_models()) or 'auto' (default)")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="builder option, e.g. --option use_pool1=true --option conv1_temporal_stride=2")
    p.add_argument("--use-pool1", action=argparse.BooleanOptionalAction, default=None,
                   help="override the pool1 default (auto: on for CSN, off otherwise; pool1 has no weights)")
    p.add_argument("--clip-len", type=int, help="clip length to record in the checkpoint metadata")
    p.add_argument("--crop-size", type=int, help="crop size to record in the checkpoint metadata")
    p.add_argument("--label-set", help="label set to record, e.g. kinetics400")
    if with_drop:
        p.add_argument("--drop-momentum", action="store_true", help="drop *_momentum blobs (SGD state)")
        p.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                       help="drop blobs whose name matches this glob pattern (repeatable)")


def _model_kwargs(args: argparse.Namespace) -> dict:
    options = dict(args.option)
    if args.use_pool1 is not None:
        options["use_pool1"] = args.use_pool1
    meta = {k: v for k, v in (("clip_len", args.clip_len), ("crop_size", args.crop_size),
                              ("label_set", args.label_set)) if v is not None}
    return {"options": options, **meta}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo-convert", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("minidb_to_pickle", help="Caffe2 MiniDB (.mdl) -> VMZ {'blobs': ...} pickle")
    p.add_argument("input"), p.add_argument("output")
    p.add_argument("--drop-momentum", action="store_true", help="drop *_momentum blobs")

    p = sub.add_parser("pickle_to_safetensors", help="Caffe2 pickle -> zoo checkpoint")
    p.add_argument("input"), p.add_argument("output")
    _add_model_args(p)

    p = sub.add_parser("minidb_to_safetensors", help="Caffe2 MiniDB -> zoo checkpoint")
    p.add_argument("input"), p.add_argument("output")
    _add_model_args(p)

    p = sub.add_parser("safetensors_to_pickle", help="zoo checkpoint -> VMZ pickle (Python 2 readable)")
    p.add_argument("input"), p.add_argument("output")

    p = sub.add_parser("safetensors_to_minidb", help="zoo checkpoint -> Caffe2 MiniDB")
    p.add_argument("input"), p.add_argument("output")
    p.add_argument("--chunk-size", type=int, default=1_000_000, help="elements per record (Caffe2 default 1e6)")

    p = sub.add_parser("torchvision_to_safetensors", help="torchvision / VMZ / ig65m .pth -> zoo checkpoint")
    p.add_argument("input"), p.add_argument("output")
    p.add_argument("--arch", default=None, help="model name (default: inferred)")
    p.add_argument("--flavor", choices=("auto", "torchvision", "vmz"), default="auto",
                   help="torchvision: BN eps 1e-5 (+ torchvision midplanes); vmz: eps 1e-3")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE")

    p = sub.add_parser("to_onnx", help="zoo checkpoint -> ONNX, verified with onnxruntime")
    p.add_argument("input"), p.add_argument("output")
    p.add_argument("--clip-len", type=int), p.add_argument("--crop-size", type=int)
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--dynamic", default="", help="comma list of batch,time,space")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")

    p = sub.add_parser("inspect", help="show what a weights file holds")
    p.add_argument("input")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-blobs", action="store_true", help="summary only")
    return parser


def _run(args: argparse.Namespace) -> str | None:
    progress = sys.stderr.isatty()
    cmd = args.command
    if cmd == "minidb_to_pickle":
        return str(pipelines.minidb_to_pickle(args.input, args.output, args.drop_momentum, progress=progress))
    if cmd == "pickle_to_safetensors":
        return str(pipelines.pickle_to_safetensors(args.input, args.output, args.arch, drop_momentum=args.drop_momentum,
                                                   ignore=args.ignore, **_model_kwargs(args)))
    if cmd == "minidb_to_safetensors":
        return str(pipelines.minidb_to_safetensors(args.input, args.output, args.arch, drop_momentum=args.drop_momentum,
                                                   ignore=args.ignore, progress=progress, **_model_kwargs(args)))
    if cmd == "safetensors_to_pickle":
        return str(pipelines.safetensors_to_pickle(args.input, args.output))
    if cmd == "safetensors_to_minidb":
        return str(pipelines.safetensors_to_minidb(args.input, args.output, progress=progress,
                                                   chunk_size=args.chunk_size))
    if cmd == "torchvision_to_safetensors":
        return str(pipelines.torchvision_to_safetensors(args.input, args.output, args.arch, flavor=args.flavor,
                                                        options=dict(args.option)))
    if cmd == "to_onnx":
        return str(to_onnx(args.input, args.output, args.clip_len, args.crop_size, args.opset, args.dynamic,
                           verify=not args.no_verify))
    info = inspect_file(args.input)
    print(json.dumps(info, default=list, indent=1) if args.json else format_report(info, not args.no_blobs))
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zoo-convert``; returns the exit status (0 ok, 1 conversion error, 2 usage)."""
    def run(args: argparse.Namespace) -> int:
        out = _run(args)
        if out is not None:
            print(f"wrote {out}")
        return 0

    return cli.run_tool("zoo-convert", build_parser(), run, argv, failures=(pickle.UnpicklingError,))


if __name__ == "__main__":
    sys.exit(main())
