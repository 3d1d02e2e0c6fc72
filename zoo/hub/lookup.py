"""What a weights name means: the one look-up behind ``zoo.get_weights`` and every tool's ``--weights NAME``.

A name is an ``hf-hub:ORG/REPO[@REVISION]`` repo (answered from its config.json, :mod:`zoo.hub.hf_repo`), a
name registered at run time or a ``weights.json`` entry (:func:`zoo.weights.registry_entry`); each gives a
:class:`~zoo.records.WeightsEntry`. The look-up lives in the hub because only the hub can open a repo:
:mod:`zoo.weights` below it keeps the records of the names it holds itself. The test protocol behind an entry
is :func:`zoo.protocol.records.resolve_protocol`.
"""
from __future__ import annotations

from zoo.hub.hf_repo import hub_entry, is_hf_name
from zoo.records import WeightsEntry
from zoo.weights import registry_entry


def get_weights(name: str) -> WeightsEntry:
    """The record of weights ``name`` (an ``hf-hub:`` repo, a registered or a ``weights.json`` name). It reads
    like the entry's dict too (``entry["arch"]``, ``dict(entry)``). KeyError with suggestions for an unknown
    name, RepoError (a ValueError) for a repo that does not hold a zoo model."""
    if is_hf_name(name):   # the one hook of hf-hub names into weights-name look-ups
        return WeightsEntry.from_dict(hub_entry(name))
    return registry_entry(name)
