"""The typed records (zoo.records): protocols of every entry, preprocessing round trips through checkpoints."""
import json

import pytest

import zoo
from zoo.aggregation import AGGREGATIONS, canonical_aggregation
from zoo.checkpoint import read_preprocessing, write_checkpoint
from zoo.models import build_model
from zoo.protocol import resolve_settings
from zoo.hub.lookup import get_weights
from zoo.protocol.records import DEFAULT_PROTOCOL, TestProtocol, get_protocol, resolve_protocol
from zoo.records import Preprocessing, WeightsEntry
from zoo.weights import list_weights, load_registry

ALL = list_weights()
HMDB51 = "r2plus1d_34.kinetics400_ft_hmdb51_32f"


@pytest.mark.parametrize("name", ALL)
def test_resolve_protocol_reads_the_protocol_table(name):
    registry = load_registry()
    metrics = registry["weights"][name]["metrics"]
    protocol = resolve_protocol(get_weights(name))
    if not metrics:
        assert protocol == TestProtocol()
        return
    table = registry["protocols"][metrics[0]["protocol"]]
    assert protocol.name == metrics[0]["protocol"]
    assert (protocol.num_clips, protocol.num_crops, protocol.aggregation, protocol.convolutional) == \
        (table["num_clips"], table["num_crops"], table["aggregation"], table["convolutional"])
    # what the evaluator uses: the protocol's numbers, and for unstated ones the documented defaults
    settings = resolve_settings({}, get_weights(name))
    assert settings.spec.num_clips == (table["num_clips"] or DEFAULT_PROTOCOL.num_clips)
    assert settings.aggregation == (table["aggregation"] or DEFAULT_PROTOCOL.aggregation)
    if table["num_crops"] is not None:
        assert settings.spec.num_crops == table["num_crops"]
    if table["crop_size"] is not None:
        assert settings.spec.crop_size == table["crop_size"]


def test_hmdb51_clip_count_is_unknown_not_parsed_from_the_protocol_name():
    protocol = resolve_protocol(get_weights(HMDB51))
    assert protocol.name == "vmz_c2_hmdb51_clip" and protocol.num_clips is None and protocol.aggregation is None
    settings = resolve_settings({}, get_weights(HMDB51))
    assert settings.spec.num_clips == 10 != 51
    assert settings.sources["num_clips"] == "default" and settings.aggregation == "mean_softmax"
    assert (settings.spec.clip_len, settings.spec.crop_size) == (32, 112)


def test_protocol_fields_come_from_the_table_not_the_entry():
    csn = resolve_settings({}, get_weights("ir_csn_152.ig65m_ft_kinetics400"))
    assert (csn.spec.num_clips, csn.spec.num_crops, csn.spec.resize, csn.spec.crop_size) == (10, 3, 256, 256)
    assert csn.protocol.convolutional is True
    tv = resolve_settings({}, get_weights("r2plus1d_18.kinetics400_16f_tv"))
    assert (tv.spec.num_clips, tv.spec.frame_rate, tv.aggregation) == (5, 15.0, "sum_softmax")


def test_registry_uses_the_evaluator_aggregation_names():
    names = {p["aggregation"] for p in load_registry()["protocols"].values()} - {None}
    assert names and names <= set(AGGREGATIONS)
    assert [canonical_aggregation(a) for a in ("softmax_mean", "sum", "max", "logit_mean")] == list(AGGREGATIONS)
    with pytest.raises(ValueError, match="unknown aggregation"):
        canonical_aggregation("median")


def test_unknown_protocol_name_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown test protocol 'vmz_c2_10clips'"):
        get_protocol("vmz_c2_10clips")
    entry = {"arch": "r3d_18", "num_classes": 3, "metrics": [{"protocol": "made_up"}]}
    with pytest.raises(KeyError, match="made_up"):
        resolve_protocol(entry)
    with pytest.raises(TypeError, match=r"zoo.get_weights\(name\)"):   # a name is looked up by the hub first
        resolve_protocol(HMDB51)


@pytest.mark.parametrize("name", ["ir_csn_152.ig65m_ft_kinetics400", "r2plus1d_18.kinetics400_16f_tv", HMDB51])
def test_entry_to_checkpoint_metadata_to_record_round_trip(tmp_path, name):
    entry = get_weights(name)
    model = build_model("r3d_10", 3, channel_multiplier=1 / 16)
    path = write_checkpoint(model.state_dict(), tmp_path / "m.safetensors", model.zoo_config,
                            **entry.checkpoint_meta())
    assert read_preprocessing(path) == entry.preprocessing
    meta = zoo.read_checkpoint_meta(path)
    assert meta["provenance"] == {"weights": name}
    assert WeightsEntry.from_dict(load_registry()["weights"][name], name) == entry


def test_preprocessing_record_round_trip_and_errors(tmp_path):
    prep = Preprocessing(clip_len=8, sampling_rate=2, frame_rate=15.0, resize=(128, 171), crop_size=112,
                         mean=(0.4, 0.4, 0.4), std=(0.2, 0.2, 0.2), classes=("a", "b"), label_set="tiny")
    assert Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict()))) == prep
    assert Preprocessing().to_dict() == {}
    assert Preprocessing(clip_len=4).updated(Preprocessing(crop_size=32)) == Preprocessing(clip_len=4, crop_size=32)
    model = build_model("r3d_10", 3, channel_multiplier=1 / 16)
    with pytest.raises(ValueError, match=r"bad\.safetensors.*resize"):
        write_checkpoint(model.state_dict(), tmp_path / "bad.safetensors", model.zoo_config, resize="big")
    assert not (tmp_path / "bad.safetensors").exists()
    with pytest.raises(ValueError, match="clip_len"):
        Preprocessing.from_dict({"clip_len": 0})
