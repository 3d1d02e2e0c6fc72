"""The console lines of every tool, written one way: :func:`say`.

Text in a tool's output often comes from files a user did not write: class names from checkpoints, labels and
ids from CSVs and list files, video file names, metadata strings, hub repo text. Written raw, an ANSI escape in
it repaints the terminal, a carriage return overwrites the line it is on and a newline forges a line of its
own. :func:`say` takes each output line as one argument and escapes every control character inside it
(:func:`zoo.errors.printable`; a newline too, so text in a line never starts another), so the tool's own line
structure is the only one that reaches the console.

Everything else a tool shows goes through it too: errors (:func:`zoo.cli.print_error`), warnings about inputs
and Python's warnings (:mod:`zoo.input_warnings`), records of the ``zoo`` loggers (:func:`logging_to_console`),
and progress bars escape their descriptions (:mod:`zoo.progress`). ``tests/core/test_console_escaping.py``
keeps it so: no other module of the package prints.
"""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import sys
from typing import Any, Iterable, Iterator, Sequence

from zoo.errors import printable


def say(*lines: Any, file=None, keep_tabs: bool = False) -> None:
    """Write each of ``lines`` (``str()`` of it) as one line to ``file`` (default: stdout as it is now), every
    control character in it escaped, and flush; live progress bars on that stream are cleared and redrawn.
    ``keep_tabs``: the lines are tab-separated fields, each escaped already (``printable(field)``)."""
    from tqdm import tqdm

    stream = file if file is not None else sys.stdout
    for line in lines:
        tqdm.write(printable(line, keep_tabs=keep_tabs), file=stream)
    stream.flush()


def report_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The CSV text of a report a person reads (``trim``'s, ``index --check``'s): every field escaped as on the
    console, so that ``cat``-ing the report shows what the tool printed."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(["" if field is None else printable(field) for field in row] for row in rows)
    return buf.getvalue()


class _ConsoleHandler(logging.Handler):
    """Log records as ``PROG: LEVEL: MESSAGE`` lines on stderr, through :func:`say`."""

    def __init__(self, prog: str):
        super().__init__(logging.WARNING)
        self.prog = prog

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(f"{self.prog}: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
        except Exception:   # logging's own rule: a failing handler never breaks the program
            self.handleError(record)


@contextlib.contextmanager
def logging_to_console(prog: str) -> Iterator[None]:
    """Inside the block, warnings and errors of the package's loggers (``zoo.*``) are console lines of ``prog``
    (:func:`say`), not Python's raw last-resort output."""
    logger = logging.getLogger("zoo")
    handler = _ConsoleHandler(prog)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


__all__ = ["say", "logging_to_console", "report_csv"]
