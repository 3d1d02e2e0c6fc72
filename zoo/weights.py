"""Registry of released weight files: ``weights.json`` (shipped as package data) and its JSON Schema.

``list_weights`` / ``get_weights`` read the registry; ``validate_registry`` checks it against
``weights.schema.json`` (with jsonschema when installed) and against the rules the schema cannot
express: the naming scheme, cross-references and unique file names.
"""
from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections import defaultdict
from importlib import resources

REGISTRY_FILE = "weights.json"
SCHEMA_FILE = "weights.schema.json"
NAME_TAGS = ("tv", "flow", "zoo2018")
_NAME = re.compile(r"^(?P<arch>[a-z0-9_]+)\.(?P<pretrain>[a-z0-9]+)(?:_ft_(?P<finetune>[a-z0-9]+))?"
                   r"(?:_(?P<frames>[0-9]+)f)?(?:_(?P<tag>" + "|".join(NAME_TAGS) + r"))?$")


class RegistryError(ValueError):
    """weights.json (or a registry passed in) breaks the schema or the registry's rules."""


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


def arch_family(arch: str) -> str:
    """``r2plus1d_34`` -> ``r2plus1d``, ``mc3_18`` -> ``mc3``, ``c3d`` -> ``c3d``."""
    return re.sub(r"_[0-9]+$", "", arch)


def head_dataset(entry: dict) -> str:
    """The dataset the entry's head classifies: its fine-tuning data, else its pretraining data."""
    return entry["finetune"] or entry["pretrain"]


def _suggest(name: str, choices, what: str) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; see {what}"


def list_weights(family: str | None = None, dataset: str | None = None) -> list[str]:
    """Sorted names of the loadable weights, optionally filtered.

    ``family`` matches the model family (``r2plus1d``, ``ir_csn``, ``mc3``, ``c3d``; hyphens allowed) or an
    exact architecture (``r2plus1d_34``). ``dataset`` matches the dataset the head classifies
    (``kinetics400``, ``hmdb51``, or a pretraining set such as ``ig65m`` / ``sports1m`` for checkpoints
    without fine-tuning). An unknown family or dataset is a ValueError with suggestions.
    """
    weights = load_registry()["weights"]
    names = sorted(weights)
    if family is not None:
        wanted = family.strip().lower().replace("-", "_")
        known = {e["arch"] for e in weights.values()} | {arch_family(e["arch"]) for e in weights.values()}
        if wanted not in known:
            raise ValueError(f"no weights for family {family!r}" + _suggest(wanted, sorted(known), "zoo.list_weights()"))
        names = [n for n in names if wanted in (weights[n]["arch"], arch_family(weights[n]["arch"]))]
    if dataset is not None:
        wanted = dataset.strip().lower().replace("-", "")
        known = {head_dataset(e) for e in weights.values()}
        if wanted not in known:
            raise ValueError(f"no weights for dataset {dataset!r}" + _suggest(wanted, sorted(known), "zoo.list_weights()"))
        names = [n for n in names if head_dataset(weights[n]) == wanted]
    return names


def get_weights(name: str) -> dict:
    """A copy of the registry entry ``name`` with ``"name"`` added; KeyError with suggestions if unknown."""
    registry = load_registry()
    entry = registry["weights"].get(name)
    if entry is not None:
        return {"name": name, **copy.deepcopy(entry)}
    unsupported = registry["unsupported"].get(name)
    if unsupported is not None:
        raise KeyError(f"weights {name!r} are a released file the zoo cannot load: {unsupported['reason']}")
    raise KeyError(f"unknown weights {name!r}" + _suggest(name, registry["weights"], "zoo.list_weights()"))


def _schema_errors(registry: dict) -> list[str]:
    try:
        import jsonschema
    except ImportError:  # optional dependency: fall back to the required top-level keys and entry fields
        schema = load_schema()
        errors = [f"missing top-level key {k!r}" for k in schema["required"] if k not in registry]
        required = schema["$defs"]["entry"]["required"]
        for name, entry in registry.get("weights", {}).items():
            errors += [f"weights.{name}: missing field {k!r}" for k in required if k not in entry]
        return errors
    validator = jsonschema.Draft202012Validator(load_schema())
    return [f"{'.'.join(map(str, err.absolute_path)) or '<top>'}: {err.message}"
            for err in sorted(validator.iter_errors(registry), key=lambda e: list(map(str, e.absolute_path)))]


def _name_errors(weights: dict) -> list[str]:
    """The naming scheme documented in weights.schema.json's description."""
    errors = []
    clip_lens = defaultdict(set)
    for entry in weights.values():
        clip_lens[entry["arch"]].add(entry["clip_len"])
    for name, entry in weights.items():
        match = _NAME.match(name)
        if not match:
            errors.append(f"{name}: does not follow ARCH.PRETRAIN[_ft_FINETUNE][_NNf][_TAG]")
            continue
        if match["arch"] != entry["arch"]:
            errors.append(f"{name}: name says arch {match['arch']!r}, entry says {entry['arch']!r}")
        if (match["pretrain"], match["finetune"]) != (entry["pretrain"], entry["finetune"]):
            errors.append(f"{name}: name says data {match['pretrain']}/{match['finetune']}, "
                          f"entry says {entry['pretrain']}/{entry['finetune']}")
        several = len(clip_lens[entry["arch"]]) > 1
        if several and match["frames"] != str(entry["clip_len"]):
            errors.append(f"{name}: {entry['arch']} has weights at clip lengths {sorted(clip_lens[entry['arch']])}, "
                          f"so the name must end in _{entry['clip_len']}f (before any tag)")
        if not several and match["frames"] is not None:
            errors.append(f"{name}: {entry['arch']} has one clip length; drop the _NNf suffix")
    return errors


def _reference_errors(registry: dict) -> list[str]:
    """label_set / protocol references, head sizes and file names appearing once."""
    errors = []
    owners = defaultdict(list)
    for section in ("weights", "unsupported"):
        for name, entry in registry[section].items():
            for src in entry["sources"] + entry.get("exports", []):
                owners[src["filename"]].append(name)
            for m in entry.get("metrics", []):
                if m["protocol"] not in registry["protocols"]:
                    errors.append(f"{name}: metric protocol {m['protocol']!r} is not in protocols")
    errors += [f"file {f} is listed by several entries: {', '.join(n)}" for f, n in owners.items() if len(n) > 1]
    for name, entry in registry["weights"].items():
        label_set = registry["label_sets"].get(entry["label_set"])
        if label_set is None:
            errors.append(f"{name}: label_set {entry['label_set']!r} is not in label_sets")
        elif label_set["num_classes"] != entry["num_classes"]:
            errors.append(f"{name}: num_classes {entry['num_classes']} but label_set {entry['label_set']} has "
                          f"{label_set['num_classes']}")
        if entry["modality"] == "rgb" and (entry["mean"] is None or entry["std"] is None):
            errors.append(f"{name}: RGB weights need mean and std")
        for src in entry["sources"]:
            if src["format"] == "onnx":
                errors.append(f"{name}: ONNX file {src['filename']} belongs under exports, not sources")
    return errors


def validate_registry(registry: dict | None = None) -> None:
    """Check ``registry`` (default: the packaged weights.json); raise RegistryError listing every problem."""
    registry = load_registry() if registry is None else registry
    errors = _schema_errors(registry)
    if not errors:  # the rule checks assume a schema-valid document
        errors = _name_errors(registry["weights"]) + _reference_errors(registry)
    if errors:
        raise RegistryError(f"{REGISTRY_FILE}: {len(errors)} problem(s):\n  " + "\n  ".join(errors))
