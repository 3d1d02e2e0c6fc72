"""Builders: every family x depth runs; structure follows VMZ; published figures are reproduced."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.models.resnet import FAMILIES

TINY = dict(channel_multiplier=0.125)


def _meta(name, **kw):
    return zoo.models.build_meta_model(name, **kw)


def _weights(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear)))


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", zoo.list_models())
def test_meta_model_has_the_real_models_names_shapes_and_dtypes(name):
    meta = _meta(name, num_classes=5, **TINY).state_dict()
    real = zoo.create_model(name, num_classes=5, **TINY).state_dict()
    assert all(t.is_meta for t in meta.values())
    assert [(k, t.shape, t.dtype) for k, t in meta.items()] == [(k, t.shape, t.dtype) for k, t in real.items()]


def test_meta_build_leaves_later_and_other_thread_builds_initialised():
    import threading

    from zoo.models.layers import shapes_only
    seen = {}
    with shapes_only():
        inside = zoo.create_model("r3d_10", **TINY)
        worker = threading.Thread(target=lambda: seen.update(m=zoo.create_model("r3d_10", **TINY)))
        worker.start()
        worker.join()
    assert inside.stem[0].weight.is_meta
    _meta("r3d_10", **TINY)
    for model in (seen["m"], zoo.create_model("r3d_10", **TINY)):   # other threads and later builds: real
        conv, bn = model.stem[0].weight, model.stem[1]
        assert conv.device.type == "cpu" and conv.std() > 0     # He-initialised, not empty or zero
        assert torch.equal(bn.running_var, torch.ones_like(bn.running_var)) and type(bn) is nn.BatchNorm3d


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_runs_forward_on_tiny_input(name):
    torch.manual_seed(0)
    model = zoo.create_model(name, num_classes=3, **TINY).eval()
    frames = 16 if name == "c3d" else 8
    x = torch.randn(2, 3, frames, 32, 32)
    with torch.no_grad():
        logits = model(x)
        feats = model.forward_features(x)
    assert logits.shape == (2, 3)
    assert feats.shape == (2, model.feature_dim)
    assert torch.isfinite(logits).all()
    assert model.zoo_config["arch"] == name


def test_list_models_covers_every_family_and_depth():
    names = set(zoo.list_models())
    for fam in ("r2plus1d", "r3d"):
        assert {f"{fam}_{d}" for d in (10, 16, 18, 26, 34, 50, 101, 152)} <= names
    for fam in ("ir_csn", "ip_csn"):
        assert {f"{fam}_{d}" for d in (26, 50, 101, 152)} <= names
        assert f"{fam}_18" not in names
    assert {"mc2_18", "mc5_18", "rmc2_18", "rmc5_18", "r2d_18", "r2df_18", "c3d"} <= names


@pytest.mark.parametrize("name,message", [
    ("ir_csn_18", "depths 26, 50, 101, 152"),
    ("r2plus1d18", "did you mean 'r2plus1d_18'"),
    ("ip_csn_152x", "did you mean 'ip_csn_152'"),
])
def test_bad_names_get_helpful_errors(name, message):
    with pytest.raises(ValueError, match=message):
        zoo.create_model(name)


def test_unknown_option_lists_valid_ones():
    with pytest.raises(TypeError, match="valid options: .*bn_eps"):
        zoo.create_model("r3d_18", bn_epsilon=1e-5)
    with pytest.raises(ValueError, match="r2plus1d only"):
        zoo.create_model("r3d_18", midplanes="torchvision")


# Published conv+fc weight counts (VMZ's "params"), docs/architectures.md "Parameter counts".
@pytest.mark.parametrize("name,options,expected", [
    ("ir_csn_152", {}, 29_551_744),
    ("ip_csn_152", {}, 32_840_832),
    ("r2plus1d_18", {}, 33_344_279),
    ("c3d", {}, 64_943_168),
])
def test_published_weight_counts(name, options, expected):
    assert _weights(_meta(name, **options)) == expected


@pytest.mark.parametrize("name,millions", [("r2plus1d_34", 63.6), ("r2plus1d_152", 118.0)])
def test_published_rounded_weight_counts(name, millions):
    assert round(_weights(_meta(name)) / 1e6, 1) == millions


# torchvision's published parameter counts for its three layouts.
@pytest.mark.parametrize("name,options,expected", [
    ("r2plus1d_18", {"midplanes": "torchvision", "bn_eps": 1e-5}, 31_505_325),
    ("r3d_18", {"bn_eps": 1e-5}, 33_371_472),
    ("mc3_18", {"bn_eps": 1e-5}, 11_695_440),
])
def test_torchvision_layout_parameter_counts(name, options, expected):
    assert _params(_meta(name, **options)) == expected


@pytest.mark.parametrize("name,shape,gmacs", [
    ("r2plus1d_18", (1, 3, 8, 112, 112), 20.7),
    ("r3d_18", (1, 3, 8, 112, 112), 20.3),
    ("r2plus1d_18", (1, 3, 16, 112, 112), 41.5),
    ("c3d", (1, 3, 16, 112, 112), 38.5),
])
def test_published_multiply_adds(name, shape, gmacs):
    assert round(zoo.describe(_meta(name), shape)["macs"] / 1e9, 1) == gmacs


def test_describe_counts_real_and_plain_models_like_their_meta_twins():
    real = zoo.create_model("r3d_10", **TINY).train()
    shape = (1, 3, 8, 32, 32)
    expected = zoo.describe(_meta("r3d_10", **TINY), shape)
    assert zoo.describe(real, shape) == expected
    assert real.training and real.fc.weight.device.type == "cpu"      # the real model is left as it was
    plain = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2))
    assert zoo.describe(plain, shape)["macs"] == 4 * 3 * 27 * 8 * 32 * 32 + 4 * 2


def test_csn_152_gmacs_at_convolutional_testing_resolution():
    # The zoo's 96.7 G for ir-CSN-152 is measured at 32x256x256 with pool1 and 2x2 conv-pred positions;
    # global pooling differs only in the FC term (4 positions vs 1).
    model = _meta("ir_csn_152", use_pool1=True)
    macs = zoo.describe(model, (1, 3, 32, 256, 256))["macs"]
    fc = model.fc.weight.numel()
    assert round((macs + 3 * fc) / 1e9, 1) == 96.7


def test_r2plus1d_middle_widths_vmz_vs_torchvision():
    vmz, tv = _meta("r2plus1d_18"), _meta("r2plus1d_18", midplanes="torchvision")
    assert vmz.stem[0].out_channels == 45
    for layer, first, second in (("layer2", 230, 288), ("layer3", 460, 576), ("layer4", 921, 1152)):
        block_v, block_t = getattr(vmz, layer)[0], getattr(tv, layer)[0]
        assert block_v.conv1[0][0].out_channels == first
        assert block_v.conv2[0][0].out_channels == second      # VMZ: per conv
        assert block_t.conv2[0][0].out_channels == first       # torchvision: per block
    # bottleneck middle width is floor(2.25 b) in VMZ
    deep = _meta("r2plus1d_50")
    assert [getattr(deep, f"layer{i}")[0].conv2[0][0].out_channels for i in (1, 2, 3, 4)] == [144, 288, 576, 1152]


def test_csn_block_structure():
    ir, ip = _meta("ir_csn_50"), _meta("ip_csn_50")
    dw = ir.layer2[0].conv2[0]
    assert isinstance(dw, nn.Conv3d) and dw.groups == dw.in_channels == 128 and dw.stride == (2, 2, 2)
    unit = ip.layer2[0].conv2[0]
    assert len(unit) == 3 and all(map(isinstance, unit, (nn.Conv3d, nn.BatchNorm3d, nn.Conv3d)))  # no ReLU
    assert unit[0].kernel_size == (1, 1, 1) and unit[2].groups == 128 and unit[2].stride == (2, 2, 2)
    # the first bottleneck block projects 64 -> 256 with stride 1
    assert ir.layer1[0].downsample[0].stride == (1, 1, 1)


def test_caffe2_numerics_defaults():
    model = _meta("r2plus1d_34")
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert bns and all(m.eps == 1e-3 and m.momentum == 0.1 for m in bns)
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv3d))
    assert model.fc.bias is not None
    assert all(m.eps == 1e-5 for m in _meta("r3d_18", bn_eps=1e-5).modules() if isinstance(m, nn.BatchNorm3d))


def _stage_shapes(model, x):
    shapes = []
    hooks = [getattr(model, f"layer{i}").register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[2:])))
             for i in (1, 2, 3, 4)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize("clip_len,times", [(8, [8, 4, 2, 1]), (4, [4, 2, 1, 1]), (2, [2, 1, 1, 1])])
def test_temporal_stride_exceptions_for_short_clips(clip_len, times):
    model = zoo.create_model("r3d_18", clip_len=clip_len, **TINY).eval()
    shapes = _stage_shapes(model, torch.randn(1, 3, clip_len, 32, 32))
    assert [s[0] for s in shapes] == times
    assert [s[1] for s in shapes] == [16, 8, 4, 2]


@pytest.mark.parametrize("family,times", [
    ("mc2", [8, 8, 8, 8]), ("mc3", [8, 8, 8, 8]), ("mc4", [8, 4, 4, 4]), ("mc5", [8, 4, 2, 2]),
    ("rmc2", [8, 4, 2, 1]), ("rmc3", [8, 4, 2, 1]), ("rmc4", [8, 8, 4, 2]), ("rmc5", [8, 8, 8, 4]),
    ("r2df", [8, 8, 8, 8]), ("r2d", [1, 1, 1, 1]),
])
def test_mixed_convolution_temporal_resolution(family, times):
    model = zoo.create_model(f"{family}_18", clip_len=8, **TINY).eval()
    assert [s[0] for s in _stage_shapes(model, torch.randn(1, 3, 8, 32, 32))] == times
    three_d = FAMILIES[family].stages_3d
    kernels = [getattr(model, f"layer{i + 1}")[0].conv1[0].kernel_size[0] for i in range(4)]
    assert kernels == [3 if s else 1 for s in three_d]


def test_stem_options():
    assert _meta("r3d_18", conv1_temporal_kernel=5).stem[0].padding == (2, 3, 3)
    assert _meta("r2d_18", clip_len=16).stem[0].kernel_size == (16, 7, 7)
    pooled = zoo.create_model("ir_csn_26", use_pool1=True, **TINY).eval()
    assert isinstance(pooled.stem[-1], nn.MaxPool3d)
    assert _stage_shapes(pooled, torch.randn(1, 3, 8, 64, 64))[0][1] == 16   # 64 / 2 (stem) / 2 (pool1)
    strided = zoo.create_model("r2plus1d_18", conv1_temporal_stride=2, **TINY).eval()
    assert _stage_shapes(strided, torch.randn(1, 3, 16, 32, 32))[0][0] == 8


def test_any_clip_length_and_crop_size_runs():
    model = zoo.create_model("ip_csn_26", num_classes=2, **TINY).eval()
    with torch.no_grad():
        for shape in [(1, 3, 6, 40, 56), (1, 3, 32, 24, 24)]:
            assert model(torch.randn(shape)).shape == (1, 2)


def test_dropout_option_only_in_training():
    model = zoo.create_model("r3d_10", num_classes=2, dropout=0.5, **TINY)
    x = torch.randn(2, 3, 8, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    assert isinstance(model.dropout, nn.Dropout) and model.dropout.p == 0.5


def test_optical_flow_input_channels():
    model = zoo.create_model("r2plus1d_34", in_channels=2, num_classes=2, **TINY).eval()
    assert model.stem[0].in_channels == 2
    with torch.no_grad():
        assert model(torch.randn(1, 2, 8, 32, 32)).shape == (1, 2)
