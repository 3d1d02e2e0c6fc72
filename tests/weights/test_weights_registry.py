"""weights.json validates against its schema and rules, and every entry builds with its options."""
from __future__ import annotations

import copy
import json
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import torch

import zoo
from zoo.weights import RegistryError, load_registry, load_schema
from zoo.weights_validation import validate_registry

REPO = Path(__file__).resolve().parents[2]
NAMES = sorted(load_registry()["weights"])


def test_schema_is_valid_draft_2020_12():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_packaged_registry_validates():
    validate_registry()


def test_registry_file_has_no_duplicate_keys():
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys: {sorted(k for k in keys if keys.count(k) > 1)}"
        return dict(pairs)

    json.loads((REPO / "weights.json").read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)


def test_package_data_is_the_top_level_file():
    packaged = resources.files("zoo").joinpath("weights.json").read_text(encoding="utf-8")
    assert packaged == (REPO / "weights.json").read_text(encoding="utf-8")


def test_examples_of_the_naming_scheme_exist():
    for name in ("ir_csn_152.ig65m_ft_kinetics400", "r2plus1d_34.kinetics400_32f", "r2plus1d_18.kinetics400_16f_tv",
                 "c3d.kinetics400_zoo2018", "r2plus1d_34.kinetics400_ft_hmdb51_32f"):
        assert name in NAMES


def _broken(mutate) -> str:
    registry = copy.deepcopy(load_registry())
    mutate(registry)
    with pytest.raises(RegistryError) as info:
        validate_registry(registry)
    return str(info.value)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["weights"]["ir_csn_152.ig65m"].pop("arch"), "'arch' is a required property"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"]["sources"][0].update(format="zip"), "'zip' is not one of"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"]["sources"][0].update(sha256="abc"), "does not match"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"].update(mean=[110.2, 100.6]), "is not valid under any"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"].update(num_clases=3), "Additional properties"),
    (lambda r: r["weights"].update({"IR-CSN.bad": r["weights"]["ir_csn_152.ig65m"]}), "does not match"),
])
def test_schema_violations_are_reported(mutate, message):
    assert message in _broken(mutate)


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r["weights"].update({"ir_csn_152.ig65m_32f": r["weights"].pop("ir_csn_152.ig65m")}),
     "drop the _NNf suffix"),
    (lambda r: r["weights"].update({"r3d_18.kinetics400": r["weights"].pop("r3d_18.kinetics400_8f")}),
     "must end in _8f"),
    (lambda r: r["weights"].update({"ip_csn_152.ig65m": r["weights"].pop("ir_csn_152.ig65m")}),
     "name says arch 'ip_csn_152'"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"].update(finetune="kinetics400"), "name says data"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"].update(num_classes=400), "label_set ig65m_359 has 359"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"].update(label_set="ig65m"), "not in label_sets"),
    (lambda r: r["weights"]["c3d.kinetics400"]["metrics"][0].update(protocol="ten_crops"), "not in protocols"),
    (lambda r: r["weights"]["ir_csn_152.ig65m"]["sources"].append(
        copy.deepcopy(r["weights"]["ir_csn_152.kinetics400"]["sources"][0])), "listed by several entries"),
    (lambda r: r["weights"]["r2plus1d_34.ig65m_8f"]["sources"].append(
        r["weights"]["r2plus1d_34.ig65m_8f"].pop("exports")[0]), "belongs under exports"),
    (lambda r: r["weights"]["c3d.sports1m"].update(mean=None), "RGB weights need mean and std"),
])
def test_rule_violations_are_reported(mutate, message):
    assert message in _broken(mutate)


def test_validation_without_jsonschema_still_checks_required_fields(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import fails -> fallback checks
    validate_registry()
    assert "missing field 'clip_len'" in _broken(lambda r: r["weights"]["c3d.sports1m"].pop("clip_len"))


def test_every_arch_is_a_zoo_model():
    models = set(zoo.list_models())
    archs = {load_registry()["weights"][n]["arch"] for n in NAMES}
    assert archs <= models, sorted(archs - models)


@pytest.mark.parametrize("name", NAMES)
def test_entry_builds_with_its_options(name):
    """The entry's options are applied as-is; the meta device keeps full-size models free."""
    entry = load_registry()["weights"][name]
    model = zoo.models.build_meta_model(entry["arch"], entry["num_classes"], **entry["options"])
    assert model.fc.out_features == entry["num_classes"]
    assert model.zoo_config["arch"] == entry["arch"]
    assert {k: model.zoo_config["options"][k] for k in entry["options"]} == entry["options"]
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    assert first_conv.in_channels == entry["options"].get("in_channels", 3)
