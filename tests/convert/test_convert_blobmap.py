"""Blob-name mapping: every family round-trips bit-exactly, documented inventories, independent forward, strictness."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from convert_helpers import assert_same_state, tiny_model
from zoo.convert import (BlobMappingError, blob_name_map, infer_arch, minidb_to_safetensors, pickle_to_safetensors,
                         safetensors_to_minidb, safetensors_to_pickle)
from zoo.convert.minidb import MinidbWriter
from zoo.convert.pickle_io import load_pickle, save_pickle

FAMILIES = [("r2plus1d_10", {}), ("r2plus1d_26", {}), ("r3d_10", {"conv1_temporal_kernel": 5}),
            ("ir_csn_26", {"use_pool1": True}), ("ip_csn_26", {"use_pool1": True}), ("c3d", {}),
            ("mc3_18", {}), ("rmc4_18", {}), ("r2d_18", {"clip_len": 4}), ("r2df_18", {})]


def _input(arch, t=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, 16 if arch == "c3d" else t, size, size, generator=g)


@pytest.mark.parametrize("arch,options", FAMILIES, ids=[a for a, _ in FAMILIES])
def test_family_round_trip_bit_exact_with_auto_arch(tmp_path, arch, options):
    model = tiny_model(arch, **options)
    ckpt = zoo.save_checkpoint(model, tmp_path / "a.safetensors")
    pkl = safetensors_to_pickle(ckpt, tmp_path / "a.pkl")
    back = zoo.load_checkpoint(pickle_to_safetensors(pkl, tmp_path / "b.safetensors", clip_len=4))
    assert back.zoo_config["arch"] == arch
    assert back.zoo_meta["clip_len"] == 4 and back.zoo_meta["provenance"]["format"] == "c2_pickle"
    assert back.zoo_meta["provenance"]["sha256"] == hashlib.sha256(pkl.read_bytes()).hexdigest()
    assert_same_state(model, back)
    x = _input(arch)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))


def test_minidb_round_trip_through_safetensors(tmp_path):
    model = tiny_model("r2plus1d_10")
    ckpt = zoo.save_checkpoint(model, tmp_path / "a.safetensors")
    mdl = safetensors_to_minidb(ckpt, tmp_path / "a.mdl", chunk_size=997, shuffle_seed=0)
    assert_same_state(model, zoo.load_checkpoint(minidb_to_safetensors(mdl, tmp_path / "b.safetensors")))


# ------------------------------------ documented inventories (docs/legacy-formats.md "Reference blob counts")
def _stage_blocks(depth):
    cfg = {18: (2, 2, 2, 2), 152: (3, 8, 36, 3)}[depth]
    return [(s, b) for s, n in enumerate(cfg) for b in range(n)]


def _bn(name):
    return [f"{name}_{s}" for s in ("s", "b", "rm", "riv")]


def documented_names(arch):
    """Blob names written from docs/legacy-formats.md "Blob names per block type" (construction order),
    independent of the code."""
    names = []
    if arch == "r2plus1d_18":
        names += ["conv1_middle_w", *_bn("conv1_middle_spatbn_relu"), "conv1_w", *_bn("conv1_spatbn_relu")]
        for i, (s, b) in enumerate(_stage_blocks(18)):
            for j in (1, 2):
                names += [f"comp_{i}_conv_{j}_middle_w", *_bn(f"comp_{i}_spatbn_{j}_middle"), f"comp_{i}_conv_{j}_w",
                          *_bn(f"comp_{i}_spatbn_{j}")]
            if s > 0 and b == 0:
                names += [f"shortcut_projection_{i}_w", *_bn(f"shortcut_projection_{i}_spatbn")]
    else:
        names += ["conv1_w", *_bn("conv1_spatbn_relu")]
        convs = {"ir_csn_152": ("1", "3", "4"), "ip_csn_152": ("1", "2_middle", "2", "3")}[arch]
        for i, (s, b) in enumerate(_stage_blocks(152)):
            for c in convs:
                names += [f"comp_{i}_conv_{c}_w", *_bn(f"comp_{i}_spatbn_{c}")]
            if b == 0:
                names += [f"shortcut_projection_{i}_w", *_bn(f"shortcut_projection_{i}_spatbn")]
    return names + ["last_out_L400_w", "last_out_L400_b"]


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    """The three full-size models, each written to a Caffe2-named pickle once and converted back."""
    out = {}
    root = tmp_path_factory.mktemp("full")
    for i, arch in enumerate(("r2plus1d_18", "ir_csn_152", "ip_csn_152")):
        model = tiny_model(arch, num_classes=400, seed=i, channel_multiplier=1.0,
                           **({"use_pool1": True} if "csn" in arch else {}))
        ckpt = zoo.save_checkpoint(model, root / f"{arch}.safetensors")
        pkl = safetensors_to_pickle(ckpt, root / f"{arch}.pkl")
        back = zoo.load_checkpoint(pickle_to_safetensors(pkl, root / f"{arch}.back.safetensors"))
        out[arch] = (model, pkl, back)
    return out


@pytest.mark.parametrize("arch,count", [("r2plus1d_18", 187), ("ir_csn_152", 777), ("ip_csn_152", 1027)])
def test_full_size_blob_inventory_and_round_trip(full_size, arch, count):
    model, pkl, back = full_size[arch]
    blobs = load_pickle(pkl)["blobs"]
    assert len(blobs) == count
    assert list(blobs) == documented_names(arch)
    assert back.zoo_config["arch"] == arch
    assert_same_state(model, back)
    x = _input(arch, t=8, size=32)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))


def test_r2plus1d_18_documented_shapes(full_size):
    """Spot checks from docs/legacy-formats.md "Reference blob counts", incl. the per-conv middle widths of
    downsampling blocks."""
    blobs = load_pickle(full_size["r2plus1d_18"][1])["blobs"]
    expected = {"conv1_middle_w": (45, 3, 1, 7, 7), "conv1_w": (64, 45, 3, 1, 1),
                "comp_2_conv_1_middle_w": (230, 64, 1, 3, 3), "comp_2_conv_2_middle_w": (288, 128, 1, 3, 3),
                "comp_4_conv_1_w": (256, 460, 3, 1, 1), "comp_6_conv_2_middle_w": (1152, 512, 1, 3, 3),
                "comp_6_conv_1_middle_w": (921, 256, 1, 3, 3), "shortcut_projection_6_w": (512, 256, 1, 1, 1),
                "last_out_L400_w": (400, 512)}
    for name, shape in expected.items():
        assert blobs[name].shape == shape, name
    assert sum(v.size for k, v in blobs.items() if k.endswith("_w")) == 33_344_279


def test_ir_csn_152_weight_total(full_size):
    blobs = load_pickle(full_size["ir_csn_152"][1])["blobs"]
    assert blobs["comp_3_conv_3_w"].shape == (128, 1, 3, 3, 3)
    assert sum(v.size for k, v in blobs.items() if k.endswith("_w")) == 29_551_744    # c2/tutorials/test.md


# ----------------------------- independent functional forward (docs/legacy-formats.md "Blob names per block type")
def _bn_f(x, blobs, name):
    return F.batch_norm(x, torch.from_numpy(blobs[f"{name}_rm"]), torch.from_numpy(blobs[f"{name}_riv"]),
                        torch.from_numpy(blobs[f"{name}_s"]), torch.from_numpy(blobs[f"{name}_b"]), False, 0.0, 1e-3)


def _conv(x, blobs, name, stride=1, groups=1):
    w = torch.from_numpy(blobs[f"{name}_w"])
    pad = tuple(k // 2 for k in w.shape[2:])
    return F.conv3d(x, w, stride=stride, padding=pad, groups=groups)


def _unit_2plus1d(x, blobs, i, j, s):
    x = F.relu(_bn_f(_conv(x, blobs, f"comp_{i}_conv_{j}_middle", (1, s, s)), blobs, f"comp_{i}_spatbn_{j}_middle"))
    return _conv(x, blobs, f"comp_{i}_conv_{j}", (s, 1, 1))


def caffe2_forward(blobs, family, depth, x, pool1=False):
    """VMZ's network written directly over the blob dict: conv3d + BN(eps 1e-3) + ReLU per the documented structure."""
    blobs = {k: np.ascontiguousarray(v) for k, v in blobs.items()}
    if family == "r2plus1d":
        x = F.relu(_bn_f(_conv(x, blobs, "conv1_middle", (1, 2, 2)), blobs, "conv1_middle_spatbn_relu"))
        x = F.relu(_bn_f(_conv(x, blobs, "conv1"), blobs, "conv1_spatbn_relu"))
    else:
        x = F.relu(_bn_f(_conv(x, blobs, "conv1", (1, 2, 2)), blobs, "conv1_spatbn_relu"))
    if pool1:
        x = F.max_pool3d(x, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    cfg = {10: (1, 1, 1, 1), 16: (2, 2, 2, 1), 26: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    i = 0
    for stage, n in enumerate(cfg):
        for b in range(n):
            s = 2 if stage > 0 and b == 0 else 1
            if depth in (10, 16):      # basic block
                if family == "r2plus1d":
                    y = F.relu(_bn_f(_unit_2plus1d(x, blobs, i, 1, s), blobs, f"comp_{i}_spatbn_1"))
                    y = _bn_f(_unit_2plus1d(y, blobs, i, 2, 1), blobs, f"comp_{i}_spatbn_2")
                else:
                    y = F.relu(_bn_f(_conv(x, blobs, f"comp_{i}_conv_1", s), blobs, f"comp_{i}_spatbn_1"))
                    y = _bn_f(_conv(y, blobs, f"comp_{i}_conv_2"), blobs, f"comp_{i}_spatbn_2")
            else:                      # bottleneck
                y = F.relu(_bn_f(_conv(x, blobs, f"comp_{i}_conv_1"), blobs, f"comp_{i}_spatbn_1"))
                if family == "ir_csn":
                    y = _conv(y, blobs, f"comp_{i}_conv_3", s, groups=y.shape[1])
                    y = F.relu(_bn_f(y, blobs, f"comp_{i}_spatbn_3"))
                    y = _bn_f(_conv(y, blobs, f"comp_{i}_conv_4"), blobs, f"comp_{i}_spatbn_4")
                else:
                    if family == "ip_csn":
                        y = _bn_f(_conv(y, blobs, f"comp_{i}_conv_2_middle"), blobs, f"comp_{i}_spatbn_2_middle")
                        y = _conv(y, blobs, f"comp_{i}_conv_2", s, groups=y.shape[1])
                    elif family == "r2plus1d":
                        y = _unit_2plus1d(y, blobs, i, 2, s)
                    else:
                        y = _conv(y, blobs, f"comp_{i}_conv_2", s)
                    y = F.relu(_bn_f(y, blobs, f"comp_{i}_spatbn_2"))
                    y = _bn_f(_conv(y, blobs, f"comp_{i}_conv_3"), blobs, f"comp_{i}_spatbn_3")
            if f"shortcut_projection_{i}_w" in blobs:
                x = _bn_f(_conv(x, blobs, f"shortcut_projection_{i}", s), blobs, f"shortcut_projection_{i}_spatbn")
            x = F.relu(y + x)
            i += 1
    feats = x.mean(dim=(2, 3, 4))
    (head,) = [k[:-2] for k in blobs if k.startswith("last_out_L") and k.endswith("_w")]
    return F.linear(feats, torch.from_numpy(blobs[f"{head}_w"]), torch.from_numpy(blobs[f"{head}_b"]))


@pytest.mark.parametrize("arch,pool1", [("r2plus1d_16", False), ("r2plus1d_26", False), ("r3d_10", False),
                                        ("r3d_50", False), ("ir_csn_26", True), ("ip_csn_50", True)])
def test_independent_functional_forward_matches(tmp_path, arch, pool1):
    model = tiny_model(arch, seed=3, use_pool1=pool1)
    pkl = safetensors_to_pickle(zoo.save_checkpoint(model, tmp_path / "m.safetensors"), tmp_path / "m.pkl")
    blobs = load_pickle(pkl)["blobs"]
    converted = zoo.load_checkpoint(pickle_to_safetensors(pkl, tmp_path / "c.safetensors",
                                                          options={"use_pool1": pool1}))
    family, depth = arch.rsplit("_", 1)
    x = _input(arch, t=8, size=32, seed=1)
    with torch.no_grad():
        ref = caffe2_forward(blobs, family, int(depth), x, pool1)
        got = converted(x)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ strictness
@pytest.fixture(scope="module")
def tiny_pickle(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    model = tiny_model("ir_csn_26", use_pool1=True)
    return safetensors_to_pickle(zoo.save_checkpoint(model, root / "m.safetensors"), root / "m.pkl")


def test_momentum_blobs_rejected_with_hint_then_dropped(tmp_path, tiny_pickle):
    blobs = load_pickle(tiny_pickle)["blobs"]
    blobs["comp_0_conv_1_w_momentum"] = np.zeros_like(blobs["comp_0_conv_1_w"])
    blobs["optimizer_iteration"] = np.array([3], np.int64)
    bad = save_pickle(tmp_path / "train.pkl", {"blobs": blobs})
    out = tmp_path / "o.safetensors"
    with pytest.raises(BlobMappingError) as info:
        pickle_to_safetensors(bad, out)
    msg = str(info.value)
    assert "left over (2)" in msg and "comp_0_conv_1_w_momentum" in msg and "--drop-momentum" in msg
    assert "--ignore" in msg and not out.exists()
    pickle_to_safetensors(bad, out, drop_momentum=True, ignore=["optimizer_*"])
    assert zoo.read_checkpoint_meta(out)["arch"] == "ir_csn_26"


def test_missing_and_wrong_arch_listed_in_one_error(tmp_path, tiny_pickle):
    blobs = load_pickle(tiny_pickle)["blobs"]
    del blobs["comp_1_spatbn_3_riv"]
    bad = save_pickle(tmp_path / "m.pkl", {"blobs": blobs})
    with pytest.raises(BlobMappingError, match=r"missing \(1\): comp_1_spatbn_3_riv"):
        pickle_to_safetensors(bad, tmp_path / "o.safetensors")
    with pytest.raises(BlobMappingError, match=r"(?s)blobs do not fit ip_csn_26.*missing.*left over"):
        pickle_to_safetensors(tiny_pickle, tmp_path / "o.safetensors", arch="ip_csn_26")
    assert not (tmp_path / "o.safetensors").exists()


def test_gpu_scoped_mdl_converts_after_unscoping(tmp_path):
    model = tiny_model("r3d_10")
    blobs = load_pickle(safetensors_to_pickle(zoo.save_checkpoint(model, tmp_path / "m.safetensors"),
                                              tmp_path / "m.pkl"))["blobs"]
    with MinidbWriter(tmp_path / "train_5.mdl", chunk_size=1999, shuffle_seed=4) as w:
        w.put_meta_net_def(blobs)
        for gpu in (0, 1):
            for name, arr in blobs.items():
                w.put_tensor(f"gpu_{gpu}/{name}", arr, device_type=1, device_id=gpu)
                w.put_tensor(f"gpu_{gpu}/{name}_momentum", np.zeros_like(arr), device_type=1, device_id=gpu)
    with pytest.raises(BlobMappingError, match="--drop-momentum"):
        minidb_to_safetensors(tmp_path / "train_5.mdl", tmp_path / "x.safetensors")
    out = minidb_to_safetensors(tmp_path / "train_5.mdl", tmp_path / "x.safetensors", drop_momentum=True)
    assert_same_state(model, zoo.load_checkpoint(out))


def test_infer_arch_reads_num_classes_and_options():
    model = zoo.models.build_meta_model("r2plus1d_34", num_classes=487)
    names = blob_name_map(model.state_dict().keys(), "r2plus1d_34", 487)
    shapes = {blob: np.broadcast_to(np.float32(0), tuple(model.state_dict()[k].shape)) for k, blob in names.items()}
    guess = infer_arch(shapes)
    assert (guess.arch, guess.num_classes, guess.options) == ("r2plus1d_34", 487, {})
    assert len(names) == 347
