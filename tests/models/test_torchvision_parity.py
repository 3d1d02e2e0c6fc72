"""Our torchvision-layout builders against torchvision 0.29's r2plus1d_18, r3d_18 and mc3_18.

The expected values come from tests/models/data/torchvision_reference.{json,safetensors}, produced by
make_torchvision_reference.py in a separate virtualenv with torchvision (see its docstring). Both sides use
the name-derived weights of tv_reference.py, so the fixture holds no weights.

Tolerance: both runs are float32 on CPU with identical weights, input and operation order, but different
torch builds (2.14 CUDA wheel vs the pinned 2.13 CPU wheel), thread counts and conv back-ends (oneDNN vs
native) sum in different orders. Measured with torchvision itself (1/2 threads, oneDNN on/off) that moves
any recorded output by at most 7e-7 of its scale (max |output|); 1e-5 of the scale leaves a >10x margin,
while a real difference is far larger: BN eps 1e-3 instead of 1e-5 alone moves the logits by 5e-3 to 1e-2
of their scale (measured with torchvision) and the stem output by 1.3e-3 (checked below); a wrong width,
stride or padding fails the layout or stage checks.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tv_reference as ref  # noqa: E402

import zoo  # noqa: E402

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
FIXTURE_JSON = DATA / "torchvision_reference.json"
FIXTURE_TENSORS = DATA / "torchvision_reference.safetensors"

# Published torchvision parameter counts (docs/architectures.md "torchvision ports" / issue 2).
PUBLISHED_PARAMS = {"r2plus1d_18": 31_505_325, "r3d_18": 33_371_472, "mc3_18": 11_695_440}
# Options that make our builders torchvision-equivalent.
TV_OPTIONS = {
    "r2plus1d_18": {"bn_eps": 1e-5, "midplanes": "torchvision"},
    "r3d_18": {"bn_eps": 1e-5},
    "mc3_18": {"bn_eps": 1e-5},
}
REL_TOL = 1e-5


@cache
def fixture() -> dict:
    return json.loads(FIXTURE_JSON.read_text())


@cache
def expected_outputs() -> dict[str, torch.Tensor]:
    with safe_open(str(FIXTURE_TENSORS), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def tv_shapes(name: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(s) for k, s in fixture()["models"][name]["state_dict"]}


@cache
def tv_weights(name: str) -> dict[str, torch.Tensor]:
    return ref.deterministic_state_dict(tv_shapes(name))


def build(name: str, **overrides) -> torch.nn.Module:
    return zoo.create_model(name, num_classes=400, **{**TV_OPTIONS[name], **overrides}).eval()


@cache
def tv_equivalent(name: str) -> torch.nn.Module:
    """Our builder with the torchvision options, built once per test session."""
    return build(name)


@cache
def our_outputs(name: str) -> dict[str, torch.Tensor]:
    model = tv_equivalent(name)
    model.load_state_dict(tv_weights(name), strict=True)
    logits, stages = ref.stage_means(model, ref.reference_input())
    return {"logits": logits, **stages}


def assert_close_to_reference(name: str, key: str, actual: torch.Tensor) -> None:
    expected = expected_outputs()[f"{name}/{key}"]
    assert actual.shape == expected.shape, f"{name} {key}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    scale = float(expected.abs().max())
    err = float((actual - expected).abs().max())
    assert err <= REL_TOL * scale, f"{name} {key}: max |diff| {err:.3g} > {REL_TOL:g} x scale {scale:.3g}"


def test_fixture_inputs_are_reproducible_here():
    """The weight/input generators give the bytes torchvision saw (else every other failure is moot)."""
    spec = fixture()
    assert spec["input"]["shape"] == list(ref.INPUT_SHAPE)
    assert ref.tensors_digest({"x": ref.reference_input()}) == spec["input"]["sha256"]
    for name in ref.MODELS:
        assert ref.tensors_digest(tv_weights(name)) == spec["models"][name]["weights_sha256"], name
    assert FIXTURE_TENSORS.stat().st_size + FIXTURE_JSON.stat().st_size < 1_000_000


@pytest.mark.parametrize("name", ref.MODELS)
def test_state_dict_layout_matches_torchvision(name):
    ours = [(k, tuple(v.shape)) for k, v in tv_equivalent(name).state_dict().items()]
    theirs = list(tv_shapes(name).items())
    our_map, their_map = dict(ours), dict(theirs)
    missing, unexpected = sorted(their_map.keys() - our_map), sorted(our_map.keys() - their_map)
    assert not missing and not unexpected, f"{name}: missing {missing}, unexpected {unexpected}"
    wrong = [(k, s, their_map[k]) for k, s in ours if their_map[k] != s]
    assert not wrong, f"{name}: (key, ours, torchvision) shape mismatches {wrong}"
    assert ours == theirs, f"{name}: same keys and shapes but in a different order"
    assert len(ours) == fixture()["models"][name]["num_entries"]


@pytest.mark.parametrize("name", ref.MODELS)
def test_parameter_count_and_bn_eps_match_torchvision(name):
    model, expected = tv_equivalent(name), fixture()["models"][name]
    assert expected["num_params"] == PUBLISHED_PARAMS[name]
    assert sum(p.numel() for p in model.parameters()) == expected["num_params"]
    eps = {m.eps for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert sorted(eps) == expected["bn_eps"] == [1e-5]


@pytest.mark.parametrize("name", ref.MODELS)
def test_outputs_match_torchvision(name):
    """Stage by stage (first failure localises the difference), then the logits."""
    outputs = our_outputs(name)
    for key in (*ref.STAGES, "logits"):
        assert_close_to_reference(name, key, outputs[key])


def test_caffe2_bn_eps_is_detectably_different():
    """Sensitivity check: the VMZ default eps 1e-3 fails the tolerance used above, already after the stem."""
    model = build("r2plus1d_18", bn_eps=1e-3)
    model.load_state_dict(tv_weights("r2plus1d_18"), strict=True)
    with torch.no_grad():
        stem = model.stem(ref.reference_input()).mean(dim=(2, 3, 4))
    expected = expected_outputs()["r2plus1d_18/stem"]
    assert float((stem - expected).abs().max()) > 10 * REL_TOL * float(expected.abs().max())


def test_vmz_midplanes_do_not_load_torchvision_weights():
    """R(2+1)D-18 with VMZ widths differs exactly in the downsampling blocks' second conv."""
    from zoo.checkpoint import WeightMismatchError, load_weights

    model = build("r2plus1d_18", midplanes="vmz")
    with pytest.raises(WeightMismatchError) as excinfo:
        load_weights(model, tv_weights("r2plus1d_18"), source="torchvision r2plus1d_18")
    message = str(excinfo.value)
    for layer in ("layer2", "layer3", "layer4"):
        assert f"{layer}.0.conv2.0.0.weight" in message
    assert "layer2.0.conv1.0.0.weight" not in message


@pytest.mark.parametrize("name", ["r2plus1d_18", "mc3_18"])   # r3d_18 takes the same path as mc3_18
def test_torchvision_import_records_bn_eps_and_midplanes(name, tmp_path):
    """A torchvision .pth converted without naming the architecture records the options that make it
    compute what torchvision computes (bn_eps 1e-5, midplanes 'torchvision' for R(2+1)D), and does."""
    from zoo.convert import torchvision_to_safetensors

    pth = tmp_path / f"{name}.pth"
    torch.save(tv_weights(name), pth)
    out = torchvision_to_safetensors(pth, tmp_path / f"{name}.safetensors")
    meta = zoo.read_checkpoint_meta(out)
    assert meta["arch"] == name
    assert meta["options"]["bn_eps"] == 1e-5
    if "midplanes" in TV_OPTIONS[name]:   # only R(2+1)D has (2+1)D middle widths
        assert meta["options"]["midplanes"] == TV_OPTIONS[name]["midplanes"]
    model = zoo.load_checkpoint(out).eval()
    logits, _ = ref.stage_means(model, ref.reference_input())
    assert_close_to_reference(name, "logits", logits)
