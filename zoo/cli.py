"""The command-line convention shared by the tools (zoo-train, zoo-test, zoo-predict, zoo-convert, zoo-hub,
zoo-prepare, zoo-extract). Importing it is cheap: no torch, so ``--help`` stays fast.

How a tool uses it::

    from zoo import argtypes, cli

    def build_parser():
        parser = cli.make_parser("zoo-thing", __doc__)           # help shows every default
        parser.add_argument("--clips", type=argtypes.positive_int, default=10, help="clips per video")
        cli.add_model(parser)                                   # --model (alias --arch)
        cli.add_model_options(parser)                           # --model-option KEY=VALUE (alias --option)
        cli.add_device(parser)                                  # --device, default auto
        cli.add_quiet(parser)                                   # -q/--quiet
        sub = parser.add_subparsers(dest="command", required=True)
        cli.add_subcommand(sub, "from-lmdb", help="...")       # also accepted as from_lmdb
        return parser

    def run(args):                                              # the work; heavy imports go in here
        if args.clips > 100:
            raise cli.UsageError("--clips: at most 100")        # exit 2
        device = cli.resolve_device(args.device)                # 'auto' -> cuda or cpu, at run time
        ...
        return 0                                                # or 1 when every item failed

    def main(argv=None):
        return cli.run_tool("zoo-thing", build_parser(), run, argv)

The rules:

* exit status 0 success, 1 failure (the work went wrong, or every item failed), 2 usage error (a flag, name
  or input file the user gave is wrong; nothing was written), 130 interrupted;
* one message format on stderr: ``PROG: error: MESSAGE`` (one line, no traceback for a user's mistake);
  :class:`UsageError` (:mod:`zoo.errors`, which library code raises too) for usage errors; any ``ValueError``/``KeyError``/``OSError``/``RuntimeError``
  raised by the work is a failure. ``OSError``\\ s are named by what they mean (no space left on device,
  permission denied, read-only file system) with the file;
* subcommands are kebab-case; the snake_case spelling is accepted as an alias (``minidb_to_pickle``);
* every argument has help text and the help shows its default;
* ``-q/--quiet`` turns progress bars and chatter off; :func:`zoo.progress.progress_bar` draws a live bar on a
  terminal and writes one line every few seconds otherwise (logs have no carriage returns).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Callable, Sequence

from zoo.amp import AMP_CHOICES
from zoo.console import logging_to_console, say
from zoo.errors import UsageError, error_message, printable  # noqa: F401 (printable: part of the convention)
from zoo.input_warnings import reporting_warnings

from zoo import argtypes

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# ---------------------------------------------------------------- parsers

class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and appends ``(default: X)`` to every option that has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or "default" in text.lower() or default is None or default is False
                or default == [] or default is argparse.SUPPRESS or not action.option_strings
                or isinstance(action, argparse._StoreConstAction)):   # --no-flip: its default says nothing
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, its usage errors written like every other error (:func:`print_error`): the arguments it
    quotes (``unrecognized arguments: ...``, file names from a shell glob among them) are shown escaped.
    Subcommand parsers are of this class too (argparse makes them of the parent's class)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        print_error(self.prog, message)
        self.exit(EXIT_USAGE)


def make_parser(prog: str, description: str | None = None, **kwargs) -> argparse.ArgumentParser:
    """An :class:`ArgumentParser` with the convention's help formatter."""
    return ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter, **kwargs)


def add_subcommand(subparsers, name: str, help: str, description: str | None = None,
                   aliases: Sequence[str] = (), **kwargs) -> argparse.ArgumentParser:
    """Add a kebab-case subcommand; its snake_case spelling (and ``aliases``) are accepted too.

    ``args.command`` is always the kebab-case name, whichever spelling was typed.
    """
    snake = name.replace("-", "_")
    names = [a for a in (snake, *aliases) if a != name]
    parser = subparsers.add_parser(name, help=help, description=description or help, aliases=names,
                                   formatter_class=HelpFormatter, **kwargs)
    parser.set_defaults(command=name)
    return parser


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no progress bars, no chatter (results and errors are still printed)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or progress messages")


def add_device(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """``--device`` (``auto``: CUDA when available, else CPU; resolved when the command runs)."""
    parser.add_argument("--device", default=default,
                        help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N")


def add_model(parser, default: str | None = None,
              help: str = "model name: FAMILY_DEPTH such as r2plus1d_18 or ir_csn_152, or c3d") -> None:
    """``--model NAME`` with ``--arch`` as an alias (``args.model``)."""
    parser.add_argument("--model", "--arch", dest="model", default=default, metavar="NAME", help=help)


def add_model_options(parser) -> None:
    """``--model-option KEY=VALUE`` (repeatable) with ``--option`` as an alias (``args.model_option``: list of
    pairs; check them with :func:`check_model_options` when the command runs)."""
    parser.add_argument("--model-option", "--option", dest="model_option", type=argtypes.key_value, action="append",
                        default=[], metavar="KEY=VALUE",
                        help="builder option, e.g. channel_multiplier=0.25, use_pool1=true (repeatable)")


def check_model_options(pairs: Sequence[tuple[str, Any]], model: str | None = None) -> dict:
    """The ``--model-option`` pairs as a dict, each checked (name, and value type against the builder's default)
    against ``model``'s builder options, or every builder's when ``model`` is None or ``auto``. Imports torch."""
    from zoo.models.registry import OPTION_RANGES, model_options

    options = dict(pairs)
    if model and model != "auto":
        try:
            valid = model_options(model)
        except ValueError as exc:
            raise UsageError(f"--model: {exc}") from None
    else:
        valid = {}
        for name in ("r2plus1d_18", "c3d"):
            valid.update(model_options(name))
    for key, value in options.items():
        if key not in valid:
            raise UsageError(f"--model-option {key}: unknown option; valid: {', '.join(sorted(valid))}")
        default = valid[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise UsageError(f"--model-option {key}={json.dumps(value)}: expected {type(default).__name__} "
                             f"like the default {json.dumps(default)}")
        in_range, expected = OPTION_RANGES.get(key, (None, None))
        if in_range is not None and not in_range(value):
            raise UsageError(f"--model-option {key}={json.dumps(value)}: must be {expected}")
    return options


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when CUDA is available, else ``cpu``; ``cuda`` without CUDA is a :class:`UsageError`.
    Imports torch (call it when the command runs, not while parsing)."""
    import torch

    text = (device or "auto").strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: CUDA is not available on this machine (use --device cpu or auto)")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UsageError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type not in ("cpu", "mps", "xpu"):
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    elif parsed.index not in (None, 0):    # torch accepts cpu:99 and runs on the one CPU device
        raise UsageError(f"--device {device}: there is one {parsed.type} device; use --device {parsed.type}")
    return str(parsed)


def default_workers(cap: int | None = None) -> int:
    """Worker processes the machine offers: CPUs this process may use (``cap`` at most)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return max(1, min(count, cap) if cap else count)


# ---------------------------------------------------------------- errors

def print_error(prog: str, message: str) -> None:
    """``PROG: error: MESSAGE`` on stderr: the one error format of every tool, one line (:func:`zoo.console.say`:
    control characters in the message, newlines too, are escaped)."""
    say(f"{prog}: error: {message}", file=sys.stderr)


@contextlib.contextmanager
def usage_errors(*extra: type[BaseException]):
    """Inside this block (the checks of what the user gave, before any work), ``ValueError``, ``KeyError``,
    ``FileNotFoundError``, ``IsADirectoryError`` and ``extra`` become :class:`UsageError` (exit status 2)."""
    try:
        yield
    except UsageError:
        raise
    except (ValueError, KeyError, FileNotFoundError, IsADirectoryError, NotADirectoryError, *extra) as exc:
        raise UsageError(error_message(exc)) from exc


#: exceptions a tool reports in one line (exit 1) instead of a traceback
FAILURES: tuple[type[BaseException], ...] = (ValueError, KeyError, OSError, RuntimeError, TypeError)


def run_tool(prog: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int | None],
             argv: Sequence[str] | None = None, failures: tuple[type[BaseException], ...] = ()) -> int:
    """Parse ``argv`` and call ``run(args)``; map exceptions to the convention's exit statuses and messages.

    ``failures`` adds the tool's own error classes (e.g. ``HubError``) to :data:`FAILURES`.
    """
    return run_parsed(prog, run, parser.parse_args(argv), failures)


def run_parsed(prog: str, run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace,
               failures: tuple[type[BaseException], ...] = (), interrupted: str = "interrupted") -> int:
    """:func:`run_tool` for arguments a tool has already parsed (and checked): ``run(args)`` with the
    convention's exit statuses; ``interrupted`` is the message for Ctrl-C. Video warnings met during the run
    are shown in one line each and counted (:func:`reporting_warnings`; silent with ``-q``)."""
    try:
        with reporting_warnings(prog, quiet=bool(getattr(args, "quiet", False))), logging_to_console(prog):
            status = run(args)
    except UsageError as exc:
        print_error(prog, str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print_error(prog, interrupted)
        return EXIT_INTERRUPTED
    except FAILURES + tuple(failures) as exc:
        print_error(prog, error_message(exc))
        return EXIT_FAILURE
    return EXIT_OK if status is None else int(status)


