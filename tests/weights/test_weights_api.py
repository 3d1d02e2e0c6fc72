"""zoo.list_weights / zoo.get_weights: filters, copies and helpful errors."""
from __future__ import annotations

import pytest

import zoo
from zoo import get_weights
from zoo.weights import arch_family, list_weights, load_registry


def test_list_weights_lists_every_loadable_entry_sorted():
    names = list_weights()
    assert names == sorted(load_registry()["weights"])
    assert zoo.list_weights() == names
    assert not set(names) & set(load_registry()["unsupported"])


def test_family_filter_matches_family_or_exact_arch():
    r2plus1d = list_weights(family="r2plus1d")
    assert {get_weights(n)["arch"] for n in r2plus1d} == {"r2plus1d_18", "r2plus1d_34", "r2plus1d_152"}
    assert list_weights(family="r2plus1d_34") == [n for n in r2plus1d if n.startswith("r2plus1d_34.")]
    assert list_weights(family="ir-csn") == list_weights(family="ir_csn") != []
    assert all(get_weights(n)["arch"] == "mc3_18" for n in list_weights(family="mc3"))  # not rmc3
    assert list_weights(family="c3d") == ["c3d.kinetics400", "c3d.kinetics400_zoo2018", "c3d.sports1m",
                                          "c3d.sports1m_ft_kinetics400"]


def test_dataset_filter_matches_the_head_dataset():
    assert list_weights(dataset="hmdb51") == ["r2plus1d_34.kinetics400_ft_hmdb51_32f"]
    ig65m = list_weights(dataset="ig65m")
    assert ig65m and all(get_weights(n)["finetune"] is None and get_weights(n)["pretrain"] == "ig65m" for n in ig65m)
    kinetics = list_weights(dataset="kinetics400")
    assert all(get_weights(n)["num_classes"] == 400 for n in kinetics)
    assert len(kinetics) + len(ig65m) + len(list_weights(dataset="sports1m")) + 1 == len(list_weights())


def test_filters_combine():
    both = list_weights(family="ip_csn", dataset="kinetics400")
    assert both == ["ip_csn_152.ig65m_ft_kinetics400", "ip_csn_152.kinetics400", "ip_csn_152.sports1m_ft_kinetics400"]


@pytest.mark.parametrize("kwargs, hint", [({"family": "r2plus1"}, "'r2plus1d'"),
                                          ({"dataset": "kinetics"}, "'kinetics400'")])
def test_unknown_filter_values_suggest(kwargs, hint):
    with pytest.raises(ValueError, match="did you mean") as info:
        list_weights(**kwargs)
    assert hint in str(info.value)


def test_get_weights_returns_a_copy_with_its_name():
    entry = get_weights("ir_csn_152.ig65m_ft_kinetics400")
    assert entry["name"] == "ir_csn_152.ig65m_ft_kinetics400"
    assert entry["arch"] == "ir_csn_152" and entry["num_classes"] == 400 and entry["clip_len"] == 32
    entry["options"]["use_pool1"] = False
    entry["sources"].clear()
    again = zoo.get_weights("ir_csn_152.ig65m_ft_kinetics400")
    assert again["options"] == {"use_pool1": True} and again["sources"]


def test_get_weights_did_you_mean():
    with pytest.raises(KeyError, match="did you mean 'ir_csn_152.ig65m_ft_kinetics400'"):
        get_weights("ir_csn_152.ig65m_ft_kinetic400")
    with pytest.raises(KeyError, match="see `zoo-hub list`"):
        get_weights("something completely different")


def test_get_weights_refuses_unsupported_files_with_the_reason():
    with pytest.raises(KeyError, match="cannot load: audio-visual"):
        get_weights("av_ip_csn_152.kinetics400")


def test_arch_family():
    assert [arch_family(a) for a in ("r2plus1d_152", "ir_csn_50", "rmc3_18", "c3d")] == \
        ["r2plus1d", "ir_csn", "rmc3", "c3d"]
