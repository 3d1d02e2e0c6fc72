"""End-to-end evaluation: exact metrics on known data, --large vs default, resume, bad videos, errors."""
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import zoo
from evaluate_helpers import LEVELS, BrightnessModel
from zoo.data.datasets import discover
from zoo.data.views import ViewSpec
from zoo.evaluate import OnnxPredictor, TorchPredictor, evaluate
from zoo.evaluate.cli import main as zoo_test
from zoo.evaluate.records import ResumeMismatchError

SPEC = ViewSpec(clip_len=4, sampling_rate=1, num_clips=4, num_crops=1, resize=32, crop_size=32)
QUIET = {"progress": False, "log": lambda message: None}


class CountingPredictor(TorchPredictor):
    """Counts the views it is asked to score."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.views = 0

    def __call__(self, views):
        self.views += views.shape[0]
        return super().__call__(views)


def brightness_predictor(cls=TorchPredictor):
    return cls(BrightnessModel(), [0.0] * 3, [1.0] * 3)


def test_metrics_on_known_dataset(known_dataset, tmp_path):
    samples, classes = discover(known_dataset, split="val")
    m = evaluate(brightness_predictor(), samples, classes, SPEC, output=tmp_path / "out", **QUIET)
    # per clip: v0 4/4, v1 3/4, v2 4/4, v3 0/4, v4 1/4 right; per video: v0 v1 v2 right, v3 -> c2, v4 -> c1
    assert m["num_videos"] == 5 and m["num_clips"] == 20
    assert m["clip_top1"] == pytest.approx(12 / 20)
    assert m["video_top1"] == pytest.approx(3 / 5)
    assert m["video_top5"] == 1.0 and m["clip_top5"] == 1.0
    assert m["per_class_accuracy"] == {"c0": 1.0, "c1": 0.5, "c2": 0.0}
    assert m["mean_class_accuracy"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[2, 0, 0], [0, 1, 1], [0, 1, 0]]
    on_disk = json.loads((tmp_path / "out/metrics.json").read_text())
    assert on_disk["confusion_matrix"] == m["confusion_matrix"] and on_disk["video_top1"] == m["video_top1"]
    scores = np.load(tmp_path / "out/scores.npz")
    assert scores["scores"].shape == (5, 3) and scores["labels"].tolist() == [0, 0, 1, 1, 2]
    assert scores["scores"].argmax(1).tolist() == [0, 0, 1, 2, 1]
    np.testing.assert_allclose(scores["scores"].sum(1), 1.0, rtol=1e-5)   # mean of softmax
    assert (tmp_path / "out/confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("method", ["max_softmax", "mean_logits"])
def test_other_aggregations_change_scores_not_ranking(known_dataset, method):
    samples, classes = discover(known_dataset, split="val")
    m = evaluate(brightness_predictor(), samples, classes, SPEC, aggregate=method, **QUIET)
    assert m["video_top1"] == pytest.approx(3 / 5) and m["aggregate"] == method


def _zoo_test(data, ckpt, out, *extra):
    return zoo_test(["--data-path", str(data), "--checkpoint", str(ckpt), "--clips", "2", "--crops", "3",
                     "--workers", "0", "--no-progress", "--output", str(out), *extra])


def test_large_matches_default_path(known_dataset, tiny_checkpoint, tmp_path, capsys):
    assert _zoo_test(known_dataset, tiny_checkpoint, tmp_path / "default", "--batch-videos", "3",
                     "--limit", "3") == 0
    table = capsys.readouterr().out
    assert "video top-1 %" in table and "clip top-1 %" in table
    # a 256 KiB budget cannot hold the 6 views of a video (their float inputs alone are 6 x 48 KiB, and the probe
    # never counts a view below that): --large runs each video in several chunks, however the RSS probe measures
    assert _zoo_test(known_dataset, tiny_checkpoint, tmp_path / "large", "--large", "--max-memory", "256K",
                     "--limit", "3") == 0
    a, b = np.load(tmp_path / "default/scores.npz"), np.load(tmp_path / "large/scores.npz")
    assert a["paths"].tolist() == b["paths"].tolist()
    np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-5, atol=1e-6)
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("default", "large"))
    assert ma["num_clips"] == mb["num_clips"] == 3 * 6
    assert ma["clip_top1"] == mb["clip_top1"] and ma["confusion_matrix"] == mb["confusion_matrix"]
    assert mb["memory"]["budget_bytes"] == 256 * 1024 and mb["memory"]["final_chunk_views"] < 6


def test_resume_continues_without_redoing(known_dataset, tmp_path):
    samples, classes = discover(known_dataset, split="val")
    full = evaluate(brightness_predictor(), samples, classes, SPEC, output=tmp_path / "full",
                    settings={"run": 1}, **QUIET)
    # a "stopped" run: two finished videos and a half-written third record, no final outputs
    out = tmp_path / "stopped"
    out.mkdir()
    shutil.copy(tmp_path / "full/run.json", out / "run.json")
    lines = (tmp_path / "full/records.jsonl").read_text().splitlines(keepends=True)
    (out / "records-0.jsonl").write_text("".join(lines[:2]) + lines[2][:40])
    predictor = brightness_predictor(CountingPredictor)
    resumed = evaluate(predictor, samples, classes, SPEC, output=out, resume=True, settings={"run": 1}, **QUIET)
    assert predictor.views == 3 * SPEC.num_views                    # only the 3 unfinished videos ran
    for key in ("clip_top1", "video_top1", "confusion_matrix", "per_class_accuracy", "num_videos"):
        assert resumed[key] == full[key]
    np.testing.assert_array_equal(np.load(out / "scores.npz")["scores"], np.load(tmp_path / "full/scores.npz")["scores"])
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(5))
    # nothing left to do: a second resume runs no views and reports the same
    again = brightness_predictor(CountingPredictor)
    assert evaluate(again, samples, classes, SPEC, output=out, resume=True, settings={"run": 1},
                    **QUIET)["video_top1"] == full["video_top1"]
    assert again.views == 0


def test_resume_guards(known_dataset, tmp_path):
    samples, classes = discover(known_dataset, split="val")
    evaluate(brightness_predictor(), samples, classes, SPEC, output=tmp_path, settings={"clips": 4}, **QUIET)
    with pytest.raises(ResumeMismatchError, match="--resume"):
        evaluate(brightness_predictor(), samples, classes, SPEC, output=tmp_path, settings={"clips": 4}, **QUIET)
    with pytest.raises(ResumeMismatchError, match="clips: 4 -> 10"):
        evaluate(brightness_predictor(), samples, classes, SPEC, output=tmp_path, resume=True,
                 settings={"clips": 10}, **QUIET)


def test_resume_refuses_a_checkpoint_rewritten_in_place(known_dataset, tiny_checkpoint, tmp_path, capsys):
    ckpt = tmp_path / "best.safetensors"                       # as training rewrites best.safetensors
    shutil.copyfile(tiny_checkpoint, ckpt)
    assert _zoo_test(known_dataset, ckpt, tmp_path / "out", "--limit", "2") == 0
    assert _zoo_test(known_dataset, ckpt, tmp_path / "out", "--limit", "2", "--resume") == 0   # same file: fine
    model = zoo.load_checkpoint(ckpt)
    with torch.no_grad():
        model.fc.bias.add_(1.0)
    zoo.save_checkpoint(model, ckpt)
    capsys.readouterr()
    assert _zoo_test(known_dataset, ckpt, tmp_path / "out", "--limit", "2", "--resume") == 2
    assert "checkpoint_sha256" in capsys.readouterr().err


def test_bad_videos_are_skipped_and_listed(bad_dataset, tiny_checkpoint, tmp_path):
    assert _zoo_test(bad_dataset, tiny_checkpoint, tmp_path, "--scores-format", "safetensors") == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["num_videos"] == 5 and m["num_skipped"] == 3
    reasons = {entry["path"].rsplit("/", 1)[-1]: entry["reason"].split(":")[0] for entry in m["skipped"]}
    assert reasons == {"empty.mp4": "empty", "truncated.mp4": "truncated", "text.mp4": "undecodable"}
    scores = load_file(str(tmp_path / "scores.safetensors"))
    assert scores["scores"].shape == (5, 3)


def test_clear_errors_before_work(known_dataset, tiny_checkpoint, tmp_path, capsys):
    assert _zoo_test(tmp_path / "nowhere", tiny_checkpoint, tmp_path / "o1") == 2
    assert "does not exist" in capsys.readouterr().err
    assert _zoo_test(known_dataset, tiny_checkpoint, tmp_path / "o2", "--split", "train") == 2
    assert "no split 'train'" in capsys.readouterr().err
    assert _zoo_test(known_dataset, tmp_path / "missing.safetensors", tmp_path / "o3") == 2
    assert "missing.safetensors" in capsys.readouterr().err
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{known_dataset}/val/c0/v0.mp4,0\n{tmp_path}/gone.mp4,1\n")
    assert _zoo_test(listing, tiny_checkpoint, tmp_path / "o4") == 2
    assert "gone.mp4" in capsys.readouterr().err
    assert _zoo_test(known_dataset, tiny_checkpoint, tmp_path / "o5", "--amp", "fp16", "--backend", "onnx") == 2
    assert "--amp applies to the torch backend only" in capsys.readouterr().err
    assert not any((tmp_path / d).exists() for d in ("o1", "o2", "o3", "o4", "o5"))


def _brightness_onnx(path):
    """BrightnessModel as a hand-built ONNX graph (exporting a real model is the converter's test)."""
    import onnx
    from onnx import TensorProto, helper

    centers = helper.make_tensor("centers", TensorProto.FLOAT, [1, 3], [lv / 255 for lv in LEVELS])
    consts = [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("scale", 20.0), ("two", 2.0))]
    axes = helper.make_tensor("axes", TensorProto.INT64, [4], [1, 2, 3, 4])
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),
             helper.make_node("Unsqueeze", ["m", "one"], ["m1"]),
             helper.make_node("Sub", ["m1", "centers"], ["d"]),
             helper.make_node("Mul", ["d", "scale"], ["ds"]),
             helper.make_node("Pow", ["ds", "two"], ["sq"]),
             helper.make_node("Neg", ["sq"], ["logits"])]
    graph = helper.make_graph(nodes, "brightness",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "T", "H", "W"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
                              initializer=[centers, *consts, axes, one])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), str(path))
    return path


def test_onnx_predictor_matches_torch(known_dataset, tmp_path):
    samples, classes = discover(known_dataset, split="val")
    onnx_run = OnnxPredictor(_brightness_onnx(tmp_path / "b.onnx"), [0.0] * 3, [1.0] * 3)
    a = evaluate(brightness_predictor(), samples, classes, SPEC, output=tmp_path / "t", **QUIET)
    b = evaluate(onnx_run, samples, classes, SPEC, large=True, output=tmp_path / "o", **QUIET)
    assert a["confusion_matrix"] == b["confusion_matrix"] and a["clip_top1"] == b["clip_top1"]
    np.testing.assert_allclose(np.load(tmp_path / "t/scores.npz")["scores"],
                               np.load(tmp_path / "o/scores.npz")["scores"], rtol=1e-5, atol=1e-6)


def test_dense_list_rows_are_clips_combined_per_video_id(known_dataset, tmp_path):
    # VMZ dense prediction: each list row is one clip at start_frm; rows sharing a video_id form one video
    root = known_dataset / "val"
    lst = tmp_path / "dense.csv"
    lst.write_text("org_video,label,start_frm,video_id\n"
                   f"{root / 'c0/v1.mp4'},0,0,x\n{root / 'c0/v1.mp4'},0,4,x\n{root / 'c0/v1.mp4'},0,12,x\n"
                   f"{root / 'c2/v4.mp4'},2,12,y\n")
    samples, _ = discover(lst)
    m = evaluate(brightness_predictor(), samples, ["c0", "c1", "c2"], SPEC, **QUIET)
    # v1 clips at 0 and 4 are level a (c0), at 12 level b (c1) -> video x is c0; v4 at 12 is level c -> c2
    assert m["num_videos"] == 2 and m["num_clips"] == 4
    assert m["clip_top1"] == pytest.approx(3 / 4)
    assert m["video_top1"] == 1.0
