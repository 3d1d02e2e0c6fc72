"""torchvision/.pth import, ONNX export, inspect and the zoo-convert CLI."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

import zoo
from convert_helpers import assert_same_state, tiny_model
from zoo.convert import inspect_file, safetensors_to_pickle, to_onnx, torchvision_to_safetensors
from zoo.convert.cli import main
from zoo.convert.onnx_export import OnnxMismatchError, check_onnx
from zoo.convert.pickle_io import load_pickle, save_pickle


@pytest.mark.parametrize("arch,options,flavor,eps", [
    ("r2plus1d_18", {"midplanes": "torchvision", "bn_eps": 1e-5}, "torchvision", 1e-5),
    ("r3d_18", {"bn_eps": 1e-5}, "torchvision", 1e-5),
    ("mc3_18", {"bn_eps": 1e-5}, "torchvision", 1e-5),
    ("r2plus1d_34", {}, "vmz", 1e-3),                       # ig65m port: VMZ middle widths
    ("ir_csn_50", {"use_pool1": True}, "vmz", 1e-3),        # VMZ pt CSN port
])
def test_pth_import(tmp_path, arch, options, flavor, eps):
    model = tiny_model(arch, **options)
    wrapped = {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3}
    torch.save(wrapped, tmp_path / "w.pth")
    out = torchvision_to_safetensors(tmp_path / "w.pth", tmp_path / "w.safetensors")
    meta = zoo.read_checkpoint_meta(out)
    assert meta["arch"] == arch and meta["options"]["bn_eps"] == eps
    assert meta["provenance"]["flavor"] == flavor and meta["provenance"]["format"] == "pth"
    if arch == "r2plus1d_18":
        assert meta["options"]["midplanes"] == "torchvision"
    rules = (meta.get("resize_filter"), meta.get("crop_rule"), meta.get("colour_rule"))
    assert rules == (("torch_bilinear", "torchvision", "bt601") if flavor == "torchvision" else (None, None, None))
    if flavor == "torchvision":  # zoo-test, zoo-predict and zoo-extract follow them without --weights
        from zoo.protocol import resolve_settings

        setup = resolve_settings(meta)
        assert (setup.spec.resize_filter, setup.spec.crop_rule, setup.spec.colour_rule) == rules
        assert setup.sources["resize_filter"] == setup.sources["colour_rule"] == "checkpoint"
    back = zoo.load_checkpoint(out)
    assert_same_state(model, back)
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))


def test_pth_with_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))
    torch.save({"x": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights-only"):
        torchvision_to_safetensors(tmp_path / "evil.pth", tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


def test_onnx_export_depthwise_dynamic(tmp_path):
    model = tiny_model("ir_csn_26", use_pool1=True)
    # no feature map may shrink to size 1 in the example, or torch.export specialises that axis
    ckpt = zoo.save_checkpoint(model, tmp_path / "m.safetensors", clip_len=16, crop_size=64)
    messages = []
    out = to_onnx(ckpt, tmp_path / "m.onnx", dynamic="batch,time,space", report=messages.append)
    printed = "\n".join(messages)
    assert "max abs diff" in printed and "(2, 3, 32, 96, 96)" in printed
    graph = onnx.load(str(out)).graph
    groups = [a.i for n in graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group"]
    assert max(groups) > 1                        # depthwise Conv3d exported as a grouped Conv
    # a model whose weights differ is caught by the onnxruntime comparison
    other = tiny_model("ir_csn_26", seed=9, use_pool1=True)
    with pytest.raises(OnnxMismatchError, match="differs from PyTorch"):
        check_onnx(out, other, (1, 3, 16, 64, 64))


def test_inspect_reports_arch_and_counts(tmp_path):
    model = tiny_model("r2plus1d_10", num_classes=5)
    pkl = safetensors_to_pickle(zoo.save_checkpoint(model, tmp_path / "m.safetensors"), tmp_path / "m.pkl")
    info = inspect_file(pkl)
    assert info["format"] == "c2_pickle" and info["count"] == 107
    assert info["architecture"].startswith("r2plus1d_10")
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["blobs"]["last_out_L5_w"] == ((5, model.fc.in_features), "float32")


def test_cli_round_trip_and_errors(tmp_path, capsys):
    model = tiny_model("r3d_10")
    ckpt = zoo.save_checkpoint(model, tmp_path / "m.safetensors")
    assert main(["safetensors_to_pickle", str(ckpt), str(tmp_path / "m.pkl")]) == 0
    assert main(["safetensors_to_minidb", str(ckpt), str(tmp_path / "m.mdl"), "--chunk-size", "5000"]) == 0
    assert main(["minidb_to_pickle", str(tmp_path / "m.mdl"), str(tmp_path / "m2.pkl")]) == 0
    a, b = load_pickle(tmp_path / "m.pkl")["blobs"], load_pickle(tmp_path / "m2.pkl")["blobs"]
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert main(["minidb_to_safetensors", str(tmp_path / "m.mdl"), str(tmp_path / "b.safetensors"),
                 "--clip-len", "8", "--crop-size", "112", "--label-set", "kinetics400"]) == 0
    meta = zoo.read_checkpoint_meta(tmp_path / "b.safetensors")
    assert (meta["clip_len"], meta["crop_size"], meta["label_set"]) == (8, 112, "kinetics400")
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "m.mdl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"].startswith("r3d_10")
    blobs = dict(a, conv1_w_momentum=a["conv1_w"])
    save_pickle(tmp_path / "bad.pkl", {"blobs": blobs})
    assert main(["pickle_to_safetensors", str(tmp_path / "bad.pkl"), str(tmp_path / "x.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "conv1_w_momentum" in err and "--drop-momentum" in err and not (tmp_path / "x.safetensors").exists()
    assert main(["pickle_to_safetensors", str(tmp_path / "bad.pkl"), str(tmp_path / "x.safetensors"),
                 "--drop-momentum", "--option", "use_pool1=true"]) == 0
    assert zoo.read_checkpoint_meta(tmp_path / "x.safetensors")["options"]["use_pool1"] is True
