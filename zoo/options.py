"""Parameter objects the engines share: :class:`RunOptions` (how a loop over videos runs), and
:func:`fold_keywords`, through which a public function that takes parameter objects keeps accepting the flat
keyword arguments of its earlier signature. Cheap to import (no torch)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from zoo.amp import check_backend
from zoo.console import say

if TYPE_CHECKING:
    import torch


def _quiet(message: str) -> None:
    """A ``log`` that drops every message."""


@dataclass(frozen=True)
class RunOptions:
    """How a loop over videos runs (the evaluator's, the extractor's).

    ``device``: where the decoded views go and whose memory ``max_memory`` measures (``None``: the caller's
    default, the model's own device for :func:`zoo.extract_features`, else the CPU). ``workers``: decoding
    processes (0: in-process). ``max_memory``: bytes one forward pass may use (the memory-budgeted runner);
    ``amp``: autocast dtype and ``backend``: ``torch`` or ``onnx``, for the code that builds the predictor.
    ``progress``: show a progress bar; ``log``: where skipped videos and memory notes go (default
    :func:`zoo.console.say`: one escaped line on stdout).
    """

    device: str | torch.device | None = None
    workers: int = 0
    max_memory: int | None = None
    amp: str | None = None
    backend: str = "torch"
    progress: bool = True
    log: Callable[[str], None] = say

    def __post_init__(self):
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be a whole number >= 0, got {self.workers!r}")
        if self.max_memory is not None and (isinstance(self.max_memory, bool)
                                            or not isinstance(self.max_memory, (int, float)) or not self.max_memory >= 1):
            raise ValueError(f"max_memory must be a number of bytes >= 1, got {self.max_memory!r}")
        check_backend(self.amp, self.backend)

    @classmethod
    def quiet(cls, **fields) -> "RunOptions":
        """Options without progress bar or log messages (library calls on one video)."""
        return cls(**{"progress": False, "log": _quiet, **fields})

    def on(self, device) -> "RunOptions":
        """The same options on ``device``."""
        return dataclasses.replace(self, device=device)


def fold_keywords(function: str, keywords: Mapping[str, Any], *records):
    """``records`` (dataclass instances) with ``keywords`` set on the one that has a field of that name
    (:func:`dataclasses.replace`), in the order given. A keyword that is no field of any of them is the
    ``TypeError`` Python raises for an unexpected keyword argument of ``function``."""
    left = dict(keywords)
    out = []
    for record in records:
        names = {f.name for f in dataclasses.fields(record)}
        mine = {key: left.pop(key) for key in [k for k in left if k in names]}
        out.append(dataclasses.replace(record, **mine) if mine else record)
    if left:
        raise TypeError(f"{function}() got an unexpected keyword argument {next(iter(left))!r}")
    return out
