"""``zoo-hub``: list, inspect, download, export and push pretrained weights."""
from __future__ import annotations

import argparse
import json
import sys

from zoo import cli
from zoo.console import say
from zoo.hub import cache
from zoo.hub.errors import HubError


def _input(entry: dict) -> str:
    crop = entry.get("crop_size")
    return f"{entry.get('clip_len') or '?'}x{crop}x{crop}" if crop else str(entry.get("clip_len") or "?")


def _accuracy(entry: dict) -> str:
    metrics = entry.get("metrics") or []
    if not metrics:
        return "-"
    m = metrics[0]
    return f"{m.get('top1')}/{m.get('top5')} {m.get('dataset')}"


def format_table(rows: list[list[str]], header: list[str]) -> list[str]:
    """The lines of a left-aligned plain-text table."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*map(str, row)).rstrip() for row in [header, ["-" * w for w in widths], *rows]]


def cmd_list(args) -> int:
    from zoo.hub.lookup import get_weights
    from zoo.weights import list_weights

    rows = []
    with cli.usage_errors():
        names = list_weights(family=args.family, dataset=args.dataset)
        if args.plot:
            from zoo.guards import check_writable

            if not args.plot.lower().endswith(".png"):
                raise cli.UsageError(f"--plot {args.plot}: give a .png file name")
            check_writable(args.plot, "--plot")
            check_writable(args.plot[:-4] + ".json", "--plot")
    for name in names:
        entry = get_weights(name)
        rows.append([name, entry["arch"], entry["num_classes"], _input(entry), _accuracy(entry),
                     "yes" if cache.is_cached(name) else "-"])
    say(*format_table(rows, ["name", "arch", "classes", "input", "top1/top5", "cached"]))
    if args.plot:
        from zoo.hub.overview import data_path, write_overview

        say(f"plot in {write_overview(args.plot)}, its data in {data_path(args.plot)}")
    return 0


def cmd_info(args) -> int:
    from zoo.hub.lookup import get_weights
    from zoo.hub.overview import describe_entry

    with cli.usage_errors():
        entry = get_weights(args.name)
    info = dict(entry)
    info["cached"] = str(cache.checkpoint_path(args.name)) if cache.is_cached(args.name) else False
    if not args.no_describe:
        stats = describe_entry(entry)
        info["computed"] = {"params": stats.get("params"), "weights": stats.get("weights"),
                            "macs": stats.get("macs"), "input": _input(entry)}
    say(*json.dumps(info, indent=2, default=str).splitlines())    # JSON text holds no raw control character
    return 0


def cmd_download(args) -> int:
    from zoo.hub.fetch import fetch_checkpoint

    if args.all == bool(args.names):
        raise cli.UsageError("give weight names or --all (not both)")
    if args.all:
        from zoo.weights import list_weights

        names = list_weights()
    else:
        names = args.names
    failed = 0
    for name in names:
        try:
            say(f"{name}: {fetch_checkpoint(name, progress=not args.quiet)}")
        except (HubError, KeyError, ValueError, OSError) as err:
            failed += 1
            say(f"{name}: FAILED: {cli.error_message(err)}", file=sys.stderr)
    return 1 if failed else 0


def cmd_export(args) -> int:
    from zoo.hub.export import export_checkpoint

    with cli.usage_errors():
        _check_checkpoint(args.ckpt)
        out = export_checkpoint(args.ckpt, args.out_dir, weights_name=args.weights, metrics=args.metrics,
                                dataset=args.dataset, repo_id=args.repo_id)
    say(out)
    return 0


def _check_checkpoint(path: str) -> None:
    from pathlib import Path

    if Path(path).is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a zoo checkpoint file (.safetensors)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")


def cmd_push(args) -> int:
    from zoo.hub.export import push_checkpoint

    with cli.usage_errors():
        _check_checkpoint(args.ckpt)
        if args.metrics:   # a wrong run folder is a usage error, found before anything is uploaded
            from zoo.hub.measured import read_run

            read_run(args.metrics, args.ckpt, args.dataset)
    say(push_checkpoint(args.ckpt, args.repo_id, weights_name=args.weights, token=args.token,
                          private=args.private, revision=args.revision, metrics=args.metrics, dataset=args.dataset))
    return 0


def _add_metrics(parser) -> None:
    parser.add_argument("--metrics", metavar="RUN/metrics.json",
                        help="results of a zoo-test run of this checkpoint (its --output folder's metrics.json): "
                             "the card's model-index and config.json's test protocol")
    parser.add_argument("--dataset", help="dataset name of --metrics in the model-index (default: the checkpoint's "
                                          "label set, else the run's data folder name)")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser("zoo-hub", __doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = cli.add_subcommand(sub, "list", help="table of released weights (arch, classes, input, accuracy, cached)")
    p.add_argument("--family", help="model family or architecture, e.g. ir_csn, r2plus1d_34")
    p.add_argument("--dataset", help="dataset the head classifies, e.g. kinetics400, ig65m")
    p.add_argument("--plot", metavar="FILE.png", help="also draw published top-1 against GFLOPs per clip for every "
                                                      "released weight into FILE.png, its data into FILE.json")
    p.set_defaults(func=cmd_list)
    p = cli.add_subcommand(sub, "info", help="everything about one weights name, plus parameters and multiply-adds")
    p.add_argument("name", help="weights name (`zoo-hub list`)")
    p.add_argument("--no-describe", action="store_true", help="skip computing parameters and multiply-adds")
    p.set_defaults(func=cmd_info)
    p = cli.add_subcommand(sub, "download", help="fetch, verify, convert and cache weights")
    p.add_argument("names", nargs="*", help="weights names (`zoo-hub list`)")
    p.add_argument("--all", action="store_true", help="every weights name in the registry")
    cli.add_quiet(p)
    p.set_defaults(func=cmd_download)
    p = cli.add_subcommand(sub, "export", help="write a hub-ready folder: model.safetensors, config.json, README.md")
    p.add_argument("ckpt", help="zoo checkpoint (.safetensors)")
    p.add_argument("out_dir", help="output folder: new, empty or an earlier export (never the checkpoint's own file)")
    p.add_argument("--weights", help="registry name whose metrics go into the model card")
    _add_metrics(p)
    p.add_argument("--repo-id", help="the Hugging Face repo the folder is for (named in the card's usage section)")
    p.set_defaults(func=cmd_export)
    p = cli.add_subcommand(sub, "push", help="export and upload a checkpoint to a Hugging Face model repo")
    p.add_argument("ckpt", help="zoo checkpoint (.safetensors)")
    p.add_argument("--repo-id", required=True, help="Hugging Face model repo, e.g. my-org/r2plus1d-hmdb51")
    p.add_argument("--weights", help="registry name whose metrics go into the model card")
    p.add_argument("--token", help="Hugging Face token (default: HF_TOKEN / `hf auth login`)")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--revision", help="branch to push to (default: main)")
    _add_metrics(p)
    p.set_defaults(func=cmd_push)
    for command in {id(c): c for c in sub.choices.values()}.values():   # the convention: -q everywhere
        if "--quiet" not in command._option_string_actions:
            cli.add_quiet(command)
    return parser


def main(argv=None) -> int:
    """Entry point of ``zoo-hub``."""
    return cli.run_tool("zoo-hub", build_parser(), lambda args: args.func(args), argv, failures=(HubError,))


if __name__ == "__main__":
    sys.exit(main())
