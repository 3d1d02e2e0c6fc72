"""``zoo-convert``: legacy Caffe2 pickles/MiniDBs, torchvision ``.pth`` files, zoo checkpoints and ONNX."""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from typing import Sequence

from zoo import argtypes, cli, limits
from zoo.console import say
from zoo.guards import check_writable, refuse_same_file


_ANY_MODEL = "model name (`zoo-hub list` shows the released ones) or auto: inferred from the blobs"


def _add_io(p: argparse.ArgumentParser, what_in: str, what_out: str) -> None:
    p.add_argument("input", help=what_in)
    p.add_argument("output", help=what_out + " (written atomically; never one of the inputs)")


def _add_meta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip-len", type=argtypes.clip_len, help="clip length to record in the checkpoint metadata")
    p.add_argument("--crop-size", type=argtypes.side, help="crop size to record in the checkpoint metadata")
    p.add_argument("--label-set", help="label set to record, e.g. kinetics400")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    cli.add_model(p, default="auto", help=_ANY_MODEL)
    cli.add_model_options(p)
    p.add_argument("--use-pool1", action=argparse.BooleanOptionalAction, default=None,
                   help="override the pool1 default (auto: on for CSN, off otherwise; pool1 has no weights)")
    _add_meta_args(p)
    p.add_argument("--drop-momentum", action="store_true", help="drop *_momentum blobs (SGD state)")
    p.add_argument("--ignore", action="append", default=[], metavar="PATTERN",
                   help="drop blobs whose name matches this glob pattern (repeatable)")


def _model_kwargs(args: argparse.Namespace) -> dict:
    options = cli.check_model_options(args.model_option, args.model)
    if args.use_pool1 is not None:
        options["use_pool1"] = args.use_pool1
    meta = {k: v for k, v in (("clip_len", args.clip_len), ("crop_size", args.crop_size),
                              ("label_set", args.label_set)) if v is not None}
    return {"options": options, **meta}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("zoo-convert", __doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = cli.add_subcommand(sub, "minidb-to-pickle", help="Caffe2 MiniDB (.mdl) -> VMZ {'blobs': ...} pickle")
    _add_io(p, "Caffe2 MiniDB checkpoint (.mdl)", "VMZ pickle (.pkl)")
    p.add_argument("--drop-momentum", action="store_true", help="drop *_momentum blobs (SGD state)")

    p = cli.add_subcommand(sub, "pickle-to-safetensors", help="Caffe2 pickle -> zoo checkpoint")
    _add_io(p, "Caffe2 weights pickle (.pkl)", "zoo checkpoint (.safetensors)")
    _add_model_args(p)

    p = cli.add_subcommand(sub, "minidb-to-safetensors", help="Caffe2 MiniDB -> zoo checkpoint")
    _add_io(p, "Caffe2 MiniDB checkpoint (.mdl)", "zoo checkpoint (.safetensors)")
    _add_model_args(p)

    p = cli.add_subcommand(sub, "safetensors-to-pickle", help="zoo checkpoint -> VMZ pickle (Python 2 readable)")
    _add_io(p, "zoo checkpoint (.safetensors)", "VMZ pickle (.pkl)")

    p = cli.add_subcommand(sub, "safetensors-to-minidb", help="zoo checkpoint -> Caffe2 MiniDB")
    _add_io(p, "zoo checkpoint (.safetensors)", "Caffe2 MiniDB (.mdl)")
    p.add_argument("--chunk-size", type=argtypes.int_range(1, limits.MAX_ELEMENTS, "elements"), default=1_000_000,
                   help="elements per record (Caffe2's default)")

    p = cli.add_subcommand(sub, "torchvision-to-safetensors", help="torchvision / VMZ / ig65m .pth -> zoo checkpoint")
    _add_io(p, "PyTorch state dict (.pth, loaded with weights_only=True)", "zoo checkpoint (.safetensors)")
    cli.add_model(p, help="model name (default: inferred from the state dict)")
    p.add_argument("--flavor", choices=("auto", "torchvision", "vmz"), default="auto",
                   help="torchvision: BN eps 1e-5 (+ torchvision midplanes); vmz: eps 1e-3")
    cli.add_model_options(p)
    _add_meta_args(p)

    p = cli.add_subcommand(sub, "to-onnx", help="zoo checkpoint -> ONNX, verified with onnxruntime")
    _add_io(p, "zoo checkpoint (.safetensors)", "ONNX file (.onnx)")
    p.add_argument("--clip-len", type=argtypes.clip_len, help="frames of the example input (default: the checkpoint's)")
    p.add_argument("--crop-size", type=argtypes.side, help="crop of the example input (default: the checkpoint's)")
    p.add_argument("--opset", type=argtypes.int_range(1, 100, "ONNX opsets"),
                   help="ONNX opset version (default: the oldest the exporter writes, which runs everywhere)")
    p.add_argument("--dynamic", type=_dynamic_axes, default=[], help="comma list of batch,time,space")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime comparison")

    p = cli.add_subcommand(sub, "inspect", help="show what a weights file holds")
    p.add_argument("input", help="Caffe2 pickle or MiniDB, zoo checkpoint, .pth or ONNX file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-blobs", action="store_true", help="summary only")
    for command in {id(c): c for c in sub.choices.values()}.values():   # aliases share their parser
        cli.add_quiet(command)
    return parser


def _dynamic_axes(text: str) -> list[str]:
    axes = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in axes if a not in ("batch", "time", "space")]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown axis {unknown[0]!r}; use a comma list of batch,time,space")
    return axes


#: the input format of each subcommand (zoo.formats names)
INPUT_FORMATS = {"minidb-to-pickle": ("c2_minidb",), "minidb-to-safetensors": ("c2_minidb",),
                 "pickle-to-safetensors": ("c2_pickle",), "safetensors-to-pickle": ("safetensors",),
                 "safetensors-to-minidb": ("safetensors",), "to-onnx": ("safetensors",),
                 "torchvision-to-safetensors": ("pth",)}


def _check_paths(args: argparse.Namespace) -> None:
    """Before any work: the input is a file of the subcommand's format (sniffed from its first bytes), the output
    is writable and is not the input."""
    from zoo.formats import expect_format, sniff_format

    if args.command in INPUT_FORMATS:
        expect_format(args.input, INPUT_FORMATS[args.command], f"zoo-convert {args.command}")
    else:
        sniff_format(args.input)     # a folder or a missing file is refused here
    output = getattr(args, "output", None)
    if output is not None:
        refuse_same_file(output, [args.input])
        check_writable(output)


def _run(args: argparse.Namespace) -> str | None:
    from zoo.convert import pipelines
    from zoo.convert.inspection import format_report, inspect_file
    from zoo.convert.onnx_export import MIN_OPSET, to_onnx

    progress = not args.quiet
    cmd = args.command
    _check_paths(args)
    if cmd == "minidb-to-pickle":
        return str(pipelines.minidb_to_pickle(args.input, args.output, args.drop_momentum, progress=progress))
    if cmd == "pickle-to-safetensors":
        return str(pipelines.pickle_to_safetensors(args.input, args.output, args.model,
                                                   drop_momentum=args.drop_momentum, ignore=args.ignore,
                                                   **_model_kwargs(args)))
    if cmd == "minidb-to-safetensors":
        return str(pipelines.minidb_to_safetensors(args.input, args.output, args.model,
                                                   drop_momentum=args.drop_momentum, ignore=args.ignore,
                                                   progress=progress, **_model_kwargs(args)))
    if cmd == "safetensors-to-pickle":
        return str(pipelines.safetensors_to_pickle(args.input, args.output))
    if cmd == "safetensors-to-minidb":
        return str(pipelines.safetensors_to_minidb(args.input, args.output, progress=progress,
                                                   chunk_size=args.chunk_size))
    if cmd == "torchvision-to-safetensors":
        kwargs = _model_kwargs(dict_namespace(args, use_pool1=None))
        return str(pipelines.torchvision_to_safetensors(args.input, args.output, args.model, flavor=args.flavor,
                                                        **kwargs))
    if cmd == "to-onnx":
        return str(to_onnx(args.input, args.output, args.clip_len, args.crop_size, args.opset or MIN_OPSET,
                           args.dynamic, verify=not args.no_verify, report=None if args.quiet else say))
    info = inspect_file(args.input)
    say(*(json.dumps(info, default=list, indent=1).splitlines() if args.json     # JSON holds no raw control character
          else format_report(info, not args.no_blobs)))
    return None


def dict_namespace(args: argparse.Namespace, **extra) -> argparse.Namespace:
    """A copy of ``args`` with ``extra`` attributes set."""
    return argparse.Namespace(**{**vars(args), **extra})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zoo-convert``; returns the exit status (0 ok, 1 conversion error, 2 usage)."""
    def run(args: argparse.Namespace) -> int:
        out = _run(args)
        if out is not None:
            say(f"wrote {out}")
        return 0

    return cli.run_tool("zoo-convert", build_parser(), run, argv, failures=(pickle.UnpicklingError,))


if __name__ == "__main__":
    sys.exit(main())
