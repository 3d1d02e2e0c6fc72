"""Did the run reproduce the published numbers, and with which protocol: the ``reproduction`` block of
``metrics.json`` that the report page shows.

For every protocol setting the run used (every field of the view record and of the test protocol, read
generically so that a new field appears without edits here) it records the value, where the value came
from (``command line``, ``weights entry``, ``checkpoint`` or ``default``) and, for ``--weights``, the value of
the protocol the published numbers were measured with. The published metrics of the weights entry are kept
beside it; :func:`compare_metrics` pairs them with the measured ones.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from zoo.protocol.records import TestProtocol, resolve_protocol
from zoo.records import WeightsEntry

#: protocol record fields that describe it rather than set something
_NOT_SETTINGS = ("name", "description", "reference")
#: the preprocessing fields shown with the protocol (how a clip is made and normalised)
_PREPROCESSING = ("clip_len", "mean", "std")
SOURCES = ("command line", "weights entry", "checkpoint", "default")


def _source_name(label: str) -> str:
    """The settings resolver's layer name as one of :data:`SOURCES`."""
    if label == "command line" or label == "checkpoint":
        return label
    if label == "weights" or label.startswith("protocol"):
        return "weights entry"
    return "default"


def _plain(value: Any) -> Any:
    """A JSON-ready value (tuples as lists), so that values compare alike whatever record held them."""
    return json.loads(json.dumps(value)) if value is not None else None


def protocol_fields(spec, protocol: TestProtocol) -> list[str]:
    """The settings of a run in display order: the view record's fields, then the protocol's others."""
    names = [f.name for f in dataclasses.fields(spec)]
    names += [f.name for f in dataclasses.fields(protocol) if f.name not in names and f.name not in _NOT_SETTINGS]
    return names + [n for n in _PREPROCESSING if n not in names]


def _published_value(name: str, protocol: TestProtocol | None, entry: WeightsEntry | None):
    value = getattr(protocol, name, None) if protocol is not None else None
    if value is None and entry is not None:
        value = getattr(entry.preprocessing, name, None)
    return _plain(value)


def describe_reproduction(setup, entry: WeightsEntry | None, overrides: Mapping[str, Any] | None = None,
                          weights: str | None = None) -> dict:
    """The ``reproduction`` block of a run: protocol settings with their sources and published values, the
    fields where they differ, and the entry's published metrics.

    ``setup`` is the run's resolved settings (``spec``, ``protocol``, ``sources``, ``mean``, ``std``),
    ``overrides`` the values given on the command line (``None``: not given), ``entry`` the weights entry."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    published = resolve_protocol(entry) if entry is not None else None
    if published is not None and published.name is None:
        published = None                                   # an entry without published numbers
    sources = dict(getattr(setup, "sources", {}) or {})
    rows = []
    for name in protocol_fields(setup.spec, setup.protocol):
        if hasattr(setup.spec, name):
            value = getattr(setup.spec, name)
        elif hasattr(setup.protocol, name):
            value = getattr(setup.protocol, name)
        else:
            value = getattr(setup, name, None)
        theirs = _published_value(name, published, entry)
        if name in sources:
            source = _source_name(sources[name])
        elif name in overrides:
            source = "command line"
        elif theirs is not None and theirs == _plain(value):
            source = "weights entry"
        else:
            source = "default"
        rows.append({"field": name, "value": _plain(value), "source": source, "published": theirs,
                     "differs": theirs is not None and theirs != _plain(value)})
    return {"weights": weights if weights is not None else (entry.name if entry is not None else None),
            "published_protocol": published.name if published is not None else None,
            "published_protocol_description": published.description if published is not None else "",
            "protocol": rows,
            "differs": [r["field"] for r in rows if r["differs"]],
            "published": [dict(m) for m in entry.metrics] if entry is not None else []}


#: the measured metric behind a published one of each level
_MEASURED = {"video": ("video_top1", "video_top5"), "clip": ("clip_top1", "clip_top5")}


def compare_metrics(reproduction: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[dict]:
    """Each published metric with the measured one of the same level (percentages) and the difference
    (measured minus published, percentage points; ``None`` where either is unknown)."""
    out = []
    for published in reproduction.get("published", []):
        level = published.get("level", "video")
        keys = _MEASURED.get(level, (None, None))
        row = {"dataset": published.get("dataset"), "split": published.get("split"), "level": level,
               "protocol": published.get("protocol"), "source": published.get("source")}
        for k, key in zip(("top1", "top5"), keys):
            theirs = published.get(k)
            ours = metrics.get(key) if key else None
            ours = None if ours is None else 100.0 * ours
            row[f"published_{k}"], row[f"measured_{k}"] = theirs, ours
            row[f"difference_{k}"] = None if theirs is None or ours is None else ours - theirs
        out.append(row)
    return out
