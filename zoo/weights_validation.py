"""Checks of ``weights.json`` against ``weights.schema.json`` (with jsonschema when installed) and against the
rules the schema cannot express: the naming scheme, cross-references and unique file names."""
from __future__ import annotations

import re
from collections import defaultdict

from zoo.weights import REGISTRY_FILE, RegistryError, load_registry, load_schema

NAME_TAGS = ("tv", "flow", "zoo2018")
_NAME = re.compile(r"^(?P<arch>[a-z0-9_]+)\.(?P<pretrain>[a-z0-9]+)(?:_ft_(?P<finetune>[a-z0-9]+))?"
                   r"(?:_(?P<frames>[0-9]+)f)?(?:_(?P<tag>" + "|".join(NAME_TAGS) + r"))?$")


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
        raise RegistryError(f"{REGISTRY_FILE}: {len(errors)} problem(s): " + "; ".join(errors))
