"""What a weights name means: the one look-up behind ``zoo.get_weights`` and every tool's ``--weights NAME``.

A name is an ``hf-hub:ORG/REPO[@REVISION]`` repo (answered from its config.json, :mod:`zoo.hub.hf_repo`), a
name registered at run time or a ``weights.json`` entry (:func:`zoo.weights.registry_entry`); each gives a
:class:`~zoo.records.WeightsEntry`. The look-up lives in the hub because only the hub can open a repo:
:mod:`zoo.weights` below it keeps the records of the names it holds itself.
"""
from __future__ import annotations

from typing import Any, Mapping

from zoo.hub.hf_repo import hub_entry, is_hf_name
from zoo.records import TestProtocol, WeightsEntry
from zoo.weights import get_protocol, registry_entry


def get_weights(name: str) -> WeightsEntry:
    """The record of weights ``name`` (an ``hf-hub:`` repo, a registered or a ``weights.json`` name). It reads
    like the entry's dict too (``entry["arch"]``, ``dict(entry)``). KeyError with suggestions for an unknown
    name, RepoError (a ValueError) for a repo that does not hold a zoo model."""
    if is_hf_name(name):   # the one hook of hf-hub names into weights-name look-ups
        return WeightsEntry.from_dict(hub_entry(name))
    return registry_entry(name)


def resolve_protocol(weights: str | Mapping[str, Any]) -> TestProtocol:
    """The test protocol behind the published numbers of ``weights`` (a name, a record or an entry dict).

    It is the entry's own protocol record when it carries one (an ``hf-hub:`` model's config.json), else the
    protocol of the entry's first metric, read from the registry's ``protocols`` table. Weights without
    published metrics get an empty protocol (every field ``None``): the caller falls back to
    :data:`zoo.records.DEFAULT_PROTOCOL`, never to numbers parsed from names.
    """
    if isinstance(weights, str):
        weights = get_weights(weights)
    elif not isinstance(weights, WeightsEntry):
        weights = WeightsEntry.from_dict(weights)
    if weights.protocol:
        return TestProtocol.from_dict(weights.protocol, weights.protocol.get("name") or weights.name)
    name = weights.protocol_name
    return TestProtocol() if name is None else get_protocol(name)
