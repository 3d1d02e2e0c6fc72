"""Warnings about inputs (a damaged video, a listed file left out): each reported in one line and counted.

Library code issues a :class:`ReportedWarning` (``warnings.warn``) or hands texts collected elsewhere to
:func:`report_warnings`; a tool shows them inside :func:`reporting_warnings` (``zoo.cli.run_parsed`` does it
for every tool), one line ``PROG: warning: PATH: kind: detail`` each and a closing count, silent with ``-q``.
"""
from __future__ import annotations

import contextlib
import sys
import warnings
from collections import Counter
from typing import Iterable, Iterator

from zoo.console import say


class ReportedWarning(UserWarning):
    """A warning about one input (e.g. :class:`zoo.data.errors.VideoWarning`) that the tools report in their
    own one-line form and count (:func:`reporting_warnings`); ``path`` names the input, ``str()`` is
    ``"kind: detail"``."""

    path = ""


class WarningReport:
    """A tool's account of :class:`ReportedWarning` s: each shown as one line ``PROG: warning: PATH: kind:
    detail`` on stderr (not with ``quiet``) and counted by kind; :meth:`summary` is the closing line."""

    def __init__(self, prog: str, quiet: bool = False, stream=None):
        self.prog, self.quiet, self.stream = prog, quiet, stream
        self.counts: Counter = Counter()

    def add(self, path, text: str) -> None:
        self.counts[text.split(":", 1)[0].strip()] += 1
        if not self.quiet:
            say(f"{self.prog}: warning: {path}: {text}", file=self.stream or sys.stderr)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items()))
        return f"{self.prog}: {self.total} warning(s) about inputs ({kinds})"


_REPORTS: list[WarningReport] = []


@contextlib.contextmanager
def reporting_warnings(prog: str, quiet: bool = False, stream=None) -> Iterator[WarningReport]:
    """Inside the block every :class:`ReportedWarning` issued goes to a :class:`WarningReport` (one line each,
    counted; never Python's warning lines with source snippets), as do the texts handed to
    :func:`report_warnings` (warnings collected in DataLoader workers); the summary line is printed at the end
    unless ``quiet``. Other warnings are one line ``PROG: warning: MESSAGE`` each; every line goes through
    :func:`zoo.console.say`."""
    report = WarningReport(prog, quiet, stream)
    with warnings.catch_warnings():
        warnings.simplefilter("always", ReportedWarning)

        def show(message, category, filename, lineno, file=None, line=None):
            if isinstance(message, ReportedWarning):
                report.add(message.path, str(message))
            else:    # one escaped line, not Python's two with a source snippet
                say(f"{prog}: warning: {message}", file=stream or sys.stderr)

        warnings.showwarning = show
        _REPORTS.append(report)
        try:
            yield report
        finally:
            _REPORTS.remove(report)
            if report.total and not quiet:
                say(report.summary(), file=stream or sys.stderr)


def report_warnings(path, texts: Iterable[str]) -> None:
    """Hand ``"kind: detail"`` texts collected elsewhere (e.g. in a DataLoader worker, by
    :func:`zoo.data.errors.collect_video_warnings`) to the active :func:`reporting_warnings` block, if any."""
    if _REPORTS:
        for text in texts:
            _REPORTS[-1].add(path, text)
