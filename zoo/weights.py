"""The registry of weights names: ``weights.json`` (shipped as package data) and the entries registered at run time.

:func:`registry_entry` gives the :class:`~zoo.records.WeightsEntry` of a name of either kind (registered names
first), :func:`list_weights` lists them; the ``protocols`` table is read by :mod:`zoo.protocol.records`. What every tool
and ``zoo.get_weights`` call is :func:`zoo.hub.lookup.get_weights`: this registry plus ``hf-hub:`` repos, which
only the hub can open. The records are :mod:`zoo.records`; the checks of ``weights.json`` against its schema and
naming rules are :mod:`zoo.weights_validation`.
"""
from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Mapping

from zoo.fields import did_you_mean
from zoo.records import RegistryError, WeightsEntry

REGISTRY_FILE = "weights.json"
SCHEMA_FILE = "weights.schema.json"
#: entries registered at run time (:func:`register_weights`), name -> entry dict in the schema of weights.json
_registered: dict[str, Mapping[str, Any]] = {}


@functools.lru_cache(maxsize=None)
def _read_json(filename: str) -> dict:
    path = resources.files("zoo").joinpath(filename)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RegistryError(f"{path}: not valid JSON ({err})") from err


def load_registry() -> dict:
    """The parsed ``weights.json`` (cached; treat as read-only)."""
    return _read_json(REGISTRY_FILE)


def load_schema() -> dict:
    """The parsed ``weights.schema.json``."""
    return _read_json(SCHEMA_FILE)


def register_weights(name: str, entry: Mapping[str, Any]) -> None:
    """Make ``name`` resolvable without weights.json (tests, private weights); ``entry`` uses its schema. A
    registered name comes before a weights.json entry of the same name and is listed by :func:`list_weights`."""
    _registered[name] = entry


def unregister_weights(name: str) -> None:
    """Undo :func:`register_weights`."""
    _registered.pop(name, None)


def registry_entry(name: str) -> WeightsEntry:
    """The record of a registered or ``weights.json`` name; KeyError with suggestions if unknown, or with the
    reason for a released file the zoo cannot load."""
    if name in _registered:
        return WeightsEntry.from_dict(_registered[name], name)
    registry = load_registry()
    entry = registry["weights"].get(name)
    if entry is not None:
        return WeightsEntry.from_dict(entry, name)
    unsupported = registry["unsupported"].get(name)
    if unsupported is not None:
        raise KeyError(f"weights {name!r} are a released file the zoo cannot load: {unsupported['reason']}")
    raise KeyError(f"unknown weights {name!r}" + did_you_mean(name, [*registry["weights"], *_registered],
                                                              "`zoo-hub list`"))


def arch_family(arch: str) -> str:
    """``r2plus1d_34`` -> ``r2plus1d``, ``mc3_18`` -> ``mc3``, ``c3d`` -> ``c3d`` (:func:`zoo.models.model_family`)."""
    from zoo.models.registry import model_family   # the builders import torch: not while a tool parses --help

    return model_family(arch)


def list_weights(family: str | None = None, dataset: str | None = None) -> list[str]:
    """Sorted names of the loadable weights (``weights.json`` and registered), optionally filtered.

    ``family`` matches the model family (``r2plus1d``, ``ir_csn``, ``mc3``, ``c3d``; hyphens allowed) or an
    exact architecture (``r2plus1d_34``). ``dataset`` matches the dataset the head classifies
    (:attr:`~zoo.records.WeightsEntry.head_dataset`: ``kinetics400``, ``hmdb51``, or a pretraining set such as
    ``ig65m`` / ``sports1m`` for checkpoints without fine-tuning). An unknown family or dataset is a ValueError
    with suggestions. ``hf-hub:`` repos are not listed: they are looked up by name.
    """
    names = sorted({*load_registry()["weights"], *_registered})
    if family is None and dataset is None:
        return names
    entries = everything = [registry_entry(name) for name in names]
    if family is not None:
        wanted = family.strip().lower().replace("-", "_")
        known = {e.arch for e in entries} | {arch_family(e.arch) for e in entries}
        if wanted not in known:
            raise ValueError(f"no weights for family {family!r}" + did_you_mean(wanted, sorted(known), "`zoo-hub list`"))
        entries = [e for e in entries if wanted in (e.arch, arch_family(e.arch))]
    if dataset is not None:
        wanted = dataset.strip().lower().replace("-", "")
        known = {e.head_dataset for e in everything}
        if wanted not in known:
            raise ValueError(f"no weights for dataset {dataset!r}" + did_you_mean(wanted, sorted(known - {None}),
                                                                                "`zoo-hub list`"))
        entries = [e for e in entries if e.head_dataset == wanted]
    return [e.name for e in entries]
