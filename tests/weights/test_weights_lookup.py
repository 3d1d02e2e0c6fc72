"""zoo.get_weights returns the typed record, which still reads like the entry's dict; the records' from_dict
and to_dict round-trip."""
from __future__ import annotations

import json

import pytest

import zoo
from zoo.protocol.records import TestProtocol, get_protocol
from zoo.records import Preprocessing, WeightsEntry
from zoo.weights import list_weights, load_registry, register_weights, unregister_weights


@pytest.mark.parametrize("name", list_weights())
def test_the_record_reads_like_the_dict_it_replaces(name):
    raw = load_registry()["weights"][name]
    old = {"name": name, **json.loads(json.dumps(raw))}    # what zoo.get_weights returned before: a copy
    entry = zoo.get_weights(name)
    assert isinstance(entry, WeightsEntry) and entry.name == name and entry.arch == raw["arch"]
    assert dict(entry) == old and entry == old and list(entry) == list(old) and len(entry) == len(old)
    assert json.dumps(dict(entry)) == json.dumps(old)
    assert all(entry[key] == value and key in entry for key, value in old.items())
    assert entry.get("no such key") is None and "no such key" not in entry
    assert entry.get("finetune") == raw.get("finetune") and entry.head_dataset == (raw["finetune"] or raw["pretrain"])


def test_the_record_is_read_only_and_hands_out_copies():
    entry = zoo.get_weights("ir_csn_152.ig65m_ft_kinetics400")
    with pytest.raises(TypeError):
        entry["arch"] = "r3d_18"
    entry["options"]["use_pool1"] = False
    entry["sources"].clear()
    assert entry["options"] == {"use_pool1": True} == entry.options and entry["sources"] and entry.sources
    assert load_registry()["weights"][entry.name]["options"] == {"use_pool1": True}


@pytest.mark.parametrize("name", list_weights())
def test_weights_entry_round_trips(name):
    entry = zoo.get_weights(name)
    assert WeightsEntry.from_dict(entry.to_dict()) == entry
    assert WeightsEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    assert WeightsEntry.from_dict(entry) == entry and WeightsEntry.from_dict(entry, "other").name == "other"


def test_a_record_built_directly_reads_like_its_dict():
    entry = WeightsEntry(name="r3d_18.mine", arch="r3d_18", num_classes=3, options={"channel_multiplier": 0.5},
                         preprocessing=Preprocessing(clip_len=4, resize=(32, 40), mean=(0.5, 0.5, 0.5)),
                         metrics=({"dataset": "mine", "top1": 1.0, "protocol": "p"},))
    assert dict(entry) == {"name": "r3d_18.mine", "arch": "r3d_18", "num_classes": 3,
                           "options": {"channel_multiplier": 0.5}, "modality": "rgb",
                           "metrics": [{"dataset": "mine", "top1": 1.0, "protocol": "p"}], "clip_len": 4,
                           "resize": [32, 40], "mean": [0.5, 0.5, 0.5]}
    assert WeightsEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    assert entry != WeightsEntry.from_dict({**entry.to_dict(), "num_classes": 4})


@pytest.mark.parametrize("name", sorted(load_registry()["protocols"]))
def test_test_protocol_round_trips(name):
    protocol = get_protocol(name)
    assert protocol.name == name
    assert TestProtocol.from_dict(json.loads(json.dumps(protocol.to_dict()))) == protocol
    assert TestProtocol.from_dict(load_registry()["protocols"][name], name) == protocol
    assert TestProtocol.from_dict(protocol.to_dict(), "renamed").name == "renamed"


def test_records_read_data_first_then_what_it_is_called():
    with pytest.raises(ValueError, match="weights r3d_18.bad: clip_len"):
        WeightsEntry.from_dict({"arch": "r3d_18", "num_classes": 3, "clip_len": 0}, "r3d_18.bad")
    with pytest.raises(ValueError, match="protocol p_bad: num_clips"):
        TestProtocol.from_dict({"name": "p_bad", "num_clips": 0})
    with pytest.raises(ValueError, match="checkpoint metadata: clip_len"):
        Preprocessing.from_dict({"clip_len": 0}, "checkpoint metadata")


def test_registered_names_are_listed_and_filtered_with_the_registry():
    register_weights("r3d_18.mine_ft_tiny3", {"arch": "r3d_18", "num_classes": 3, "pretrain": "mine",
                                              "finetune": "tiny3"})
    try:
        assert "r3d_18.mine_ft_tiny3" in list_weights() and list_weights(dataset="tiny3") == ["r3d_18.mine_ft_tiny3"]
        assert "r3d_18.mine_ft_tiny3" in list_weights(family="r3d_18")
        assert zoo.get_weights("r3d_18.mine_ft_tiny3").head_dataset == "tiny3"
        with pytest.raises(KeyError, match="did you mean 'r3d_18.mine_ft_tiny3'"):
            zoo.get_weights("r3d_18.mine_ft_tiny")
    finally:
        unregister_weights("r3d_18.mine_ft_tiny3")
    assert list_weights() == sorted(load_registry()["weights"])
