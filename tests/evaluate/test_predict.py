"""zoo-predict: top-k classes per video and penultimate features at video and clip level."""
import json

import numpy as np
import torch
from safetensors.numpy import load_file

import zoo
from zoo.data.views import ViewSpec, decode_views
from zoo.data.transforms import normalize
from zoo.extract.predict import main as zoo_predict

ARGS = ["--clips", "2", "--crops", "1", "--device", "cpu"]


def test_topk_json_matches_model(known_dataset, tiny_checkpoint, capsys):
    videos = [str(known_dataset / "val/c0/v0.mp4"), str(known_dataset / "val/c2/v4.mp4")]
    assert zoo_predict([*videos, "--checkpoint", str(tiny_checkpoint), "--topk", "2", "--json", *ARGS]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["video"] for line in lines] == videos
    model = zoo.load_checkpoint(tiny_checkpoint)
    meta = model.zoo_meta
    spec = ViewSpec(clip_len=4, num_clips=2, num_crops=1, resize=32, crop_size=32)
    for line, video in zip(lines, videos):
        with torch.no_grad():
            probs = torch.softmax(model(normalize(decode_views(video, spec), meta["mean"], meta["std"])), 1).mean(0)
        best = torch.topk(probs, 2)
        assert [t["class"] for t in line["top"]] == [meta["classes"][i] for i in best.indices.tolist()]
        np.testing.assert_allclose([t["score"] for t in line["top"]], best.values.numpy(), rtol=1e-4)


def test_pixel_rule_flags_decide_the_views(known_dataset, tiny_checkpoint, capsys):
    video = str(known_dataset / "val/c1/v3.mp4")
    rules = ["--resize", "24x40", "--crop-size", "16", "--resize-filter", "torch_bilinear", "--crop-rule",
             "torchvision", "--colour-rule", "frame_tag"]
    assert zoo_predict([video, "--checkpoint", str(tiny_checkpoint), "--topk", "3", "--json", *ARGS, *rules]) == 0
    line = json.loads(capsys.readouterr().out)
    model = zoo.load_checkpoint(tiny_checkpoint)
    spec = ViewSpec(clip_len=4, num_clips=2, resize=(24, 40), crop_size=16, resize_filter="torch_bilinear",
                    crop_rule="torchvision", colour_rule="frame_tag")
    with torch.no_grad():
        probs = torch.softmax(model(normalize(decode_views(video, spec), [0.45] * 3, [0.225] * 3)), 1).mean(0)
    np.testing.assert_allclose([t["score"] for t in line["top"]], torch.sort(probs, descending=True).values,
                               rtol=1e-4)


def test_features_video_and_clip_level(known_dataset, tiny_checkpoint, tmp_path, capsys):
    videos = [str(known_dataset / "val/c0/v0.mp4"), str(known_dataset / "val/c1/v2.mp4"),
              str(known_dataset / "val/c1/v3.mp4")]
    base = [*videos, "--checkpoint", str(tiny_checkpoint), *ARGS]
    assert zoo_predict([*base, "--features", str(tmp_path / "video.npy")]) == 0
    assert zoo_predict([*base, "--features", str(tmp_path / "clip.safetensors"), "--feature-level", "clip"]) == 0
    assert "1." in capsys.readouterr().out
    video_level = np.load(tmp_path / "video.npy")
    clip_level = load_file(str(tmp_path / "clip.safetensors"))["features"]
    width = zoo.load_checkpoint(tiny_checkpoint).fc.in_features
    assert video_level.shape == (3, width) and clip_level.shape == (3, 2, width)
    np.testing.assert_allclose(clip_level.mean(axis=1), video_level, rtol=1e-5, atol=1e-6)


def test_bad_input(known_dataset, tiny_checkpoint, tmp_path, capsys):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    good = str(known_dataset / "val/c0/v0.mp4")
    assert zoo_predict([good, str(empty), "--checkpoint", str(tiny_checkpoint), *ARGS]) == 1
    captured = capsys.readouterr()
    assert good in captured.out and "empty.mp4: skipped" in captured.err
    assert zoo_predict([str(tmp_path / "nope.mp4"), "--checkpoint", str(tiny_checkpoint)]) == 2
    assert "nope.mp4" in capsys.readouterr().err
