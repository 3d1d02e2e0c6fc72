"""Model names -> builders: ``list_models()`` and ``build_model(name, ...)``.

Names are ``{family}_{depth}`` (``r2plus1d_34``, ``ir_csn_152``, ``mc3_18``) plus ``c3d``. Every model
carries ``model.zoo_config`` = ``{"arch", "num_classes", "options"}``, enough to rebuild it.
"""
from __future__ import annotations

import difflib
import inspect
import re

from torch import nn

from zoo._gc import paused_gc
from zoo.limits import MAX_CLASSES, MAX_CLIP_LEN
from zoo.models.c3d import build_c3d
from zoo.models.resnet import FAMILIES, build_video_resnet

_NAME = re.compile(r"^(?P<family>[a-z0-9_]+?)_(?P<depth>\d+)$")


def _real(low: float, high: float, low_open: bool = True, high_open: bool = False):
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return (low < v if low_open else low <= v) and (v < high if high_open else v <= high)   # NaN: False
    return ok


def _integer(low: int, high: int, optional: bool = False):
    return lambda v: (optional and v is None) or (isinstance(v, int) and not isinstance(v, bool) and low <= v <= high)


#: the numeric builder options and the values a model may have (metadata of a checkpoint is untrusted: NaN,
#: Infinity, 1e30 or a negative clip length are refused before anything is built)
OPTION_RANGES = {
    "channel_multiplier": (_real(0, 8), "a number in (0, 8]"),
    "bn_eps": (_real(0, 1, high_open=True), "a number in (0, 1)"),
    "dropout": (_real(0, 1, low_open=False, high_open=True), "a number in [0, 1)"),
    "conv1_temporal_stride": (_integer(1, 8), "an integer in 1..8"),
    "in_channels": (_integer(1, 64), "an integer in 1..64"),
    "clip_len": (_integer(1, MAX_CLIP_LEN, optional=True), f"null or an integer in 1..{MAX_CLIP_LEN}"),
}


def list_models() -> list[str]:
    """Every buildable model name, sorted by family then depth."""
    names = [f"{family}_{depth}" for family, spec in FAMILIES.items() for depth in spec.depths]
    return names + ["c3d"]


def _options_of(fn) -> dict:
    """Keyword-only options of a builder and their defaults."""
    return {p.name: p.default for p in inspect.signature(fn).parameters.values() if p.kind == p.KEYWORD_ONLY}


def model_options(name: str) -> dict:
    """The options ``name`` accepts, with their defaults."""
    return _options_of(build_c3d if resolve_name(name)[0] == "c3d" else build_video_resnet)


def resolve_name(name: str) -> tuple[str, int | None]:
    """Split a model name into (family, depth); raise a helpful ValueError for unknown names."""
    if name == "c3d":
        return "c3d", None
    match = _NAME.match(name)
    if match and match["family"] in FAMILIES:
        family, depth = match["family"], int(match["depth"])
        valid = FAMILIES[family].depths
        if depth in valid:
            return family, depth
        raise ValueError(f"unknown model {name!r}: {family} is defined at depths {', '.join(map(str, valid))}"
                         + (" (CSN blocks need bottlenecks)" if family.endswith("csn") else ""))
    close = difflib.get_close_matches(name, list_models(), n=3, cutoff=0.6)
    hint = (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else
            f"; names are FAMILY_DEPTH (e.g. r2plus1d_18) with FAMILY one of {', '.join(FAMILIES)}, or c3d")
    raise ValueError(f"unknown model {name!r}{hint}")


def model_family(name: str) -> str:
    """The family of a model name or of a family name: ``r2plus1d_34`` and ``r2plus1d`` -> ``r2plus1d``,
    ``mc3_18`` -> ``mc3``, ``c3d`` -> ``c3d``; ValueError for anything else (the one model-name parser)."""
    if name == "c3d" or name in FAMILIES:
        return name
    return resolve_name(name)[0]


def build_model(name: str, num_classes: int = 400, **options) -> nn.Module:
    """Build ``name`` with fresh (from-scratch) weights. Unknown options are a TypeError listing the valid ones."""
    family, depth = resolve_name(name)
    valid = model_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"{name}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(valid))}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"num_classes must be an integer in 1..{MAX_CLASSES}, not {num_classes!r}")
    for key, value in options.items():
        ok, expected = OPTION_RANGES.get(key, (None, None))
        if ok is not None and not ok(value):
            raise ValueError(f"{name}: option {key} must be {expected}, not {value!r}")
    with paused_gc():
        if family == "c3d":
            model = build_c3d(num_classes, **options)
        else:
            model = build_video_resnet(family, depth, num_classes, **options)
    resolved = {**valid, **options}
    model.zoo_config = {"arch": name, "num_classes": num_classes, "options": resolved}
    return model
