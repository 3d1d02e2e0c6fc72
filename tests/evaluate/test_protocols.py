"""zoo-test follows the weights' test protocol: CSN's convolutional 10x3 protocol without any flag; the
short-video rule (pad and count, skip, or count as wrong)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import zoo
import zoo.models.conv_head as conv_head
from zoo.data.encode import encode_video
from zoo.evaluate.cli import main as zoo_test
from zoo.hub import cache

NAME = "ir_csn_152.ig65m_ft_kinetics400"
CLASSES = [f"k{i:03d}" for i in range(400)]


@pytest.fixture
def cached_csn(tmp_path, monkeypatch):
    """The registry entry as it is, its checkpoint a tiny ir-CSN with pool1 made here and placed in an isolated
    weights cache, offline: what a user has after ``zoo-hub download`` (a stand-in model, same protocol)."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    torch.manual_seed(0)
    model = zoo.create_model("ir_csn_26", num_classes=400, channel_multiplier=1 / 64, use_pool1=True)
    path = cache.checkpoint_path(NAME)
    path.parent.mkdir(parents=True)
    zoo.save_checkpoint(model, path, classes=CLASSES, clip_len=32, sampling_rate=2, resize=256, crop_size=224)
    return path


def test_csn_weights_run_the_convolutional_10x3_protocol_without_flags(cached_csn, tmp_path, monkeypatch):
    # one video (30 views of 32x256x256 is the costly part): 70 frames of 64x48, a clip spans 63
    path = tmp_path / "data/val/k001/v.mp4"
    path.parent.mkdir(parents=True)
    encode_video(path, np.random.default_rng(0).integers(0, 256, (70, 48, 64, 3), dtype=np.uint8), fps=30)
    maps = []
    real = conv_head.position_logits

    def spy(fc, fmap, input_hw, train_crop_size):
        out = real(fc, fmap, input_hw, train_crop_size)
        maps.append((tuple(fmap.shape), tuple(input_hw), train_crop_size, tuple(out.shape[2:])))
        return out

    monkeypatch.setattr(conv_head, "position_logits", spy)
    out = tmp_path / "out"
    assert zoo_test(["--weights", NAME, "--data-path", str(tmp_path / "data"), "--workers", "0",
                     "--batch-videos", "1", "--output", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    settings = metrics["settings"]
    assert settings["protocol"] == "vmz_c2_10clip_3crop256_conv"
    assert (settings["clips"], settings["crops"], settings["resize"], settings["crop_size"]) == (10, 3, 256, 256)
    assert (settings["clip_len"], settings["sampling_rate"]) == (32, 2)
    assert settings["convolutional"] is True and settings["train_crop_size"] == 224
    assert (settings["resize_filter"], settings["rounding"], settings["crop_rule"]) == \
        ("swscale_fast_bilinear", "half_away_from_zero", "caffe2")
    assert metrics["num_videos"] == 1 and metrics["num_clips"] == 30 and metrics["num_padded"] == 0
    # all 30 views went through the convolutional head: 256-pixel crops of 32 frames, an 8x8 map pooled to 2x2
    assert [(m[0][0], *m[0][2:], *m[1:]) for m in maps] == [(30, 4, 8, 8, (256, 256), 224, (1, 2, 2))]


def test_short_videos_pad_or_skip(known_dataset, tiny_checkpoint, tmp_path):
    # the known videos have 16 frames; 4 frames every 6 span 19: every video is shorter than one clip
    common = ["--checkpoint", str(tiny_checkpoint), "--data-path", str(known_dataset), "--workers", "0",
              "--clip-len", "4", "--no-progress", "--sampling-rate"]
    assert zoo_test(common + ["6", "--output", str(tmp_path / "pad")]) == 0
    padded = json.loads((tmp_path / "pad/metrics.json").read_text())
    assert padded["num_padded"] == 5 and padded["num_skipped"] == 0 and padded["short_videos"] == "pad"
    # every video skipped: the run fails (exit 1) but still reports them
    assert zoo_test(common + ["6", "--short-videos", "skip", "--output", str(tmp_path / "skip")]) == 1
    skipped = json.loads((tmp_path / "skip/metrics.json").read_text())
    assert skipped["num_skipped"] == 5 and skipped["num_padded"] == 0 and skipped["num_videos"] == 0
    assert all(s["reason"].startswith("too_short") for s in skipped["skipped"])
    assert zoo_test(common + ["5", "--short-videos", "skip", "--output", str(tmp_path / "fits")]) == 0  # span 16
    assert json.loads((tmp_path / "fits/metrics.json").read_text())["num_skipped"] == 0


def test_short_videos_scored_wrong_stay_in_the_denominator(known_dataset, tiny_checkpoint, tmp_path):
    # 16-frame videos; 4 frames every 6 span 19: no clip, as in Caffe2, yet every video counts, as a miss
    common = ["--checkpoint", str(tiny_checkpoint), "--data-path", str(known_dataset), "--workers", "0",
              "--clip-len", "4", "--no-progress", "--short-videos", "wrong"]
    assert zoo_test(common + ["--sampling-rate", "6", "--output", str(tmp_path / "wrong")]) == 0
    wrong = json.loads((tmp_path / "wrong/metrics.json").read_text())
    assert (wrong["num_videos"], wrong["num_scored_wrong"], wrong["num_skipped"], wrong["num_clips"]) == (5, 5, 0, 0)
    assert wrong["video_top1"] == wrong["video_top5"] == 0.0 and wrong["short_videos"] == "wrong"
    assert all(s["reason"].startswith("too_short") for s in wrong["scored_wrong"])
    # long enough (span 16): scored as usual, the same numbers as with padding
    assert zoo_test(common + ["--sampling-rate", "5", "--output", str(tmp_path / "fits")]) == 0
    fits = json.loads((tmp_path / "fits/metrics.json").read_text())
    assert fits["num_scored_wrong"] == 0 and fits["num_videos"] == 5
    assert fits["num_clips"] == 5 * 10 * fits["settings"]["crops"]


def test_pixel_rules_from_checkpoint_protocol_and_command_line():
    from zoo.protocol import resolve_settings
    from zoo import get_weights

    rules = ("resize_filter", "crop_rule", "colour_rule")
    plain = resolve_settings({})
    assert [getattr(plain.spec, k) for k in rules] == ["swscale_fast_bilinear", "caffe2", "bt601"]
    assert [plain.sources[k] for k in rules] == ["default"] * 3
    tv_meta = {"resize_filter": "torch_bilinear", "crop_rule": "torchvision", "colour_rule": "bt601"}
    mine = resolve_settings(tv_meta)   # a checkpoint converted from torchvision's .pth, without --weights
    assert [getattr(mine.spec, k) for k in rules] == ["torch_bilinear", "torchvision", "bt601"]
    assert [mine.sources[k] for k in rules] == ["checkpoint"] * 3
    vmz = resolve_settings(tv_meta, get_weights("r2plus1d_34.kinetics400_32f"))   # the protocol wins
    assert [getattr(vmz.spec, k) for k in rules] == ["swscale_fast_bilinear", "caffe2", "bt601"]
    assert vmz.sources["colour_rule"] == f"protocol {vmz.protocol.name}" and vmz.protocol.name.startswith("vmz_c2")
    flags = resolve_settings(tv_meta, get_weights("r2plus1d_34.kinetics400_32f"),
                             {"resize_filter": "swscale_bilinear", "crop_rule": "torchvision",
                              "colour_rule": "frame_tag"})
    assert [getattr(flags.spec, k) for k in rules] == ["swscale_bilinear", "torchvision", "frame_tag"]
    assert [flags.sources[k] for k in rules] == ["command line"] * 3
    assert flags.settings()["colour_rule"] == "frame_tag"
    with pytest.raises(ValueError, match="colour_rule"):
        resolve_settings({"colour_rule": "bt2020"})


def test_zoo_test_pixel_rule_flags(known_dataset, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert zoo_test(["--checkpoint", str(tiny_checkpoint), "--data-path", str(known_dataset), "--workers", "0",
                     "--no-progress", "--clips", "2", "--output", str(out), "--resize-filter", "torch_bilinear",
                     "--crop-rule", "torchvision", "--colour-rule", "frame_tag"]) == 0
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert (settings["resize_filter"], settings["crop_rule"], settings["colour_rule"]) == \
        ("torch_bilinear", "torchvision", "frame_tag")
    with pytest.raises(SystemExit) as exit_status:
        zoo_test(["--checkpoint", str(tiny_checkpoint), "--colour-rule", "bt709"])
    assert exit_status.value.code == 2 and "--colour-rule" in capsys.readouterr().err


def test_convolutional_flag_needs_a_large_enough_crop_and_the_torch_backend(tiny_checkpoint, known_dataset,
                                                                            capsys):
    common = ["--checkpoint", str(tiny_checkpoint), "--data-path", str(known_dataset), "--workers", "0",
              "--convolutional", "--no-progress"]
    assert zoo_test(common + ["--crop-size", "16"]) == 2
    assert "at least as large as the training crop" in capsys.readouterr().err
    assert zoo_test(common + ["--backend", "onnx"]) == 2
    assert "no convolutional head" in capsys.readouterr().err


def test_each_protocol_record_sets_the_view_rules():
    from zoo.protocol import resolve_settings
    from zoo import get_weights

    tv = resolve_settings({}, get_weights("r2plus1d_18.kinetics400_16f_tv"))
    assert (tv.spec.resize_filter, tv.spec.rounding, tv.spec.crop_rule) == \
        ("torch_bilinear", "half_to_even", "torchvision")
    assert (tv.spec.num_clips, tv.spec.resize, tv.spec.frame_rate, tv.aggregation) == (5, (128, 171), 15, "sum_softmax")
    assert not tv.convolutional and tv.head_crop_size is None
    assert (tv.spec.short_videos, tv.spec.clip_starts) == ("wrong", "uniform")
    assert tv.sources["short_videos"] == tv.sources["clip_starts"] == "protocol torchvision_ref_5clip_center112"
    vmz = resolve_settings({}, get_weights("r2plus1d_34.kinetics400_32f"))
    assert (vmz.spec.short_videos, vmz.spec.clip_starts) == ("wrong", "caffe2")
    csn = resolve_settings({}, get_weights("ip_csn_152.kinetics400"), {"short_videos": "skip"})
    assert (csn.spec.resize_filter, csn.spec.rounding, csn.spec.crop_rule, csn.spec.clip_starts) == \
        ("swscale_fast_bilinear", "half_away_from_zero", "caffe2", "caffe2")
    assert csn.convolutional and csn.head_crop_size == 224 and csn.spec.crop_size == 256
    assert csn.spec.short_videos == "skip" and csn.sources["short_videos"] == "command line"
    off = resolve_settings({}, get_weights("ip_csn_152.kinetics400"), {"convolutional": False})
    assert not off.convolutional and off.head_crop_size is None
    plain = resolve_settings({"crop_size": 112})  # a checkpoint alone: VMZ test_net.py's rules
    assert (plain.spec.resize_filter, plain.spec.crop_rule, plain.convolutional) == \
        ("swscale_fast_bilinear", "caffe2", False)
    assert (plain.spec.short_videos, plain.spec.clip_starts) == ("pad", "uniform")
    assert plain.sources["short_videos"] == plain.sources["clip_starts"] == "default"
