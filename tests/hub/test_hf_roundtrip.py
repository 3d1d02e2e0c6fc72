"""The round trip through the Hub, offline: zoo-test measures a checkpoint under a protocol, ``zoo-hub export
--metrics`` writes the card (model-index) and config.json (protocol record), the folder lands in a temporary
Hugging Face cache in the library's layout, and ``--weights hf-hub:ORG/REPO`` in the tools gives the same
results with the uploader's protocol and no protocol flags. Bad names are one-line usage errors (exit 2).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.data.encode import encode_video
from zoo.evaluate.cli import main as zoo_test
from zoo.hub.cli import main as zoo_hub

from hfcache import place_in_hf_cache

NAME = "hf-hub:org/tiny"
#: the uploader's protocol: not the defaults, so replaying it is visible
PROTOCOL_FLAGS = ["--clips", "2", "--crops", "1", "--aggregate", "max_softmax"]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A tiny checkpoint, three short videos, and a zoo-test run of the checkpoint under PROTOCOL_FLAGS."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("roundtrip")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("c0", "c1", "c2"):
            encode_video(root / "data" / split / label / "v.mp4", rng.integers(0, 256, (12, 32, 32, 3), np.uint8))
    model = zoo.create_model("r3d_18", num_classes=3, channel_multiplier=1 / 16)
    ckpt = zoo.save_checkpoint(model, root / "tiny.safetensors", clip_len=4, crop_size=32, resize=32,
                               classes=["c0", "c1", "c2"], label_set="tiny3", mean=[0.45] * 3, std=[0.225] * 3)
    run = root / "run"
    assert zoo_test(["--checkpoint", str(ckpt), "--data-path", str(root / "data"), "--output", str(run), "-q",
                     "--workers", "0", "--device", "cpu", *PROTOCOL_FLAGS]) == 0
    assert zoo_hub(["export", str(ckpt), str(root / "export"), "--metrics", str(run / "metrics.json"),
                    "--repo-id", "org/tiny"]) == 0
    return root, ckpt, run


@pytest.fixture
def hf_cache(isolated_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return Path(os.environ["HF_HUB_CACHE"])


def test_model_index_holds_the_measured_numbers(measured):
    from huggingface_hub import ModelCard, metadata_load

    root, _, run = measured
    metrics = json.loads((run / "metrics.json").read_text())
    card = ModelCard.load(root / "export" / "README.md")   # huggingface_hub's own reader
    results = card.data.eval_results
    by_name = {r.metric_name: r for r in results}
    assert by_name["Top-1 accuracy (%)"].metric_value == round(100 * metrics["video_top1"], 2)
    assert by_name["Top-5 accuracy (%)"].metric_value == round(100 * metrics["video_top5"], 2)
    assert by_name["Clip top-1 accuracy (%)"].metric_value == round(100 * metrics["clip_top1"], 2)
    first = results[0]
    assert (first.task_type, first.dataset_type, first.dataset_split) == ("video-classification", "tiny3", "val")
    words = first.metric_args["protocol"]
    assert "2 uniformly spaced clips of 4 frames" in words and "max of the view softmaxes" in words
    assert first.metric_args["videos"] == metrics["num_videos"] == 3
    raw = metadata_load(root / "export" / "README.md")
    assert raw["library_name"] == "video-model-zoo" and raw["model-index"][0]["results"][0]["metrics"]
    config = json.loads((root / "export" / "config.json").read_text())
    assert config["protocol"]["num_clips"] == 2 and config["protocol"]["aggregation"] == "max_softmax"
    assert config["metrics"][0]["top1"] == round(100 * metrics["video_top1"], 2)
    assert 'zoo.create_model("hf-hub:org/tiny")' in card.text


def test_metrics_of_another_checkpoint_are_refused(measured, tmp_path, capsys):
    root, _, run = measured
    other = zoo.save_checkpoint(zoo.create_model("r3d_18", num_classes=3, channel_multiplier=1 / 16),
                                tmp_path / "other.safetensors")
    assert zoo_hub(["export", str(other), str(tmp_path / "out"), "--metrics", str(run / "metrics.json")]) == 2
    assert "measured another checkpoint" in capsys.readouterr().err
    assert zoo_hub(["export", str(other), str(tmp_path / "out"), "--metrics", str(tmp_path / "metrics.json")]) == 2
    assert not (tmp_path / "out").exists()


def _scores(run: Path) -> np.ndarray:
    with np.load(run / "scores.npz") as data:
        return data["scores"]


def test_zoo_test_with_an_hf_name_replays_the_uploaders_protocol(measured, hf_cache, tmp_path):
    root, ckpt, run = measured
    place_in_hf_cache(root / "export", hf_cache, "org/tiny")
    again = tmp_path / "again"
    assert zoo_test(["--weights", NAME, "--data-path", str(root / "data"), "--output", str(again), "-q",
                     "--workers", "0", "--device", "cpu"]) == 0            # no protocol flags
    settings = json.loads((again / "run.json").read_text())
    assert (settings["clips"], settings["crops"], settings["aggregate"]) == (2, 1, "max_softmax")
    first, second = (json.loads((r / "metrics.json").read_text()) for r in (run, again))
    for key in ("video_top1", "video_top5", "clip_top1", "num_videos", "num_clips"):
        assert first[key] == second[key]
    assert np.array_equal(_scores(run), _scores(again))
    # every setting of the protocol travelled: only where the model came from differs
    differ = {k for k in first["settings"] if first["settings"][k] != second["settings"].get(k)}
    assert differ <= {"checkpoint", "weights", "protocol"}, differ
    assert second["settings"]["checkpoint_sha256"] == first["settings"]["checkpoint_sha256"]


def test_zoo_train_fine_tunes_from_an_hf_name_with_its_preprocessing(measured, hf_cache, tmp_path):
    from zoo.distributed import DistEnv
    from zoo.train.cli import parse_config
    from zoo.train.loop import Trainer

    root, ckpt, _ = measured
    place_in_hf_cache(root / "export", hf_cache, "org/tiny")
    config = parse_config(["--data-path", str(root / "data"), "--output-dir", str(tmp_path / "out"), "--weights",
                           NAME, "--recipe", "finetune", "--threads", "1", "--no-progress"])
    assert (config.clip_len, config.train_crop_size, config.val_crop_size) == (4, 32, 32)   # from config.json
    trainer = Trainer(config, DistEnv())
    state, pushed = trainer.model.state_dict(), zoo.load_checkpoint(ckpt).state_dict()
    assert all(torch.equal(state[k], pushed[k]) for k in pushed if not k.startswith("fc."))
    assert trainer.model.zoo_meta["provenance"]["finetuned_from"] == NAME


def test_zoo_predict_and_zoo_extract_with_an_hf_name_match_the_checkpoint(measured, hf_cache, tmp_path, capsys):
    from zoo.extract.predict import main as zoo_predict
    from zoo.extract.cli import main as zoo_extract

    root, ckpt, _ = measured
    place_in_hf_cache(root / "export", hf_cache, "org/tiny")
    video = str(root / "data" / "val" / "c0" / "v.mp4")
    outputs = []
    for source in (["--checkpoint", str(ckpt)], ["--weights", NAME]):
        assert zoo_predict([video, *source, "--json", "--device", "cpu", *PROTOCOL_FLAGS]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and json.loads(outputs[0].splitlines()[0])
    index = []
    for name, source in (("a", ["--checkpoint", str(ckpt)]), ("b", ["--weights", NAME])):
        assert zoo_extract([*source, "--data-path", str(root / "data"), "--split", "val", "--output",
                            str(tmp_path / name), "--format", "npy", "-q", "--device", "cpu", "--workers", "0"]) == 0
        index.append(sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*.npy")))
    assert index[0] == index[1] and index[0]
    for rel in index[0]:
        assert np.array_equal(np.load(tmp_path / "a" / rel), np.load(tmp_path / "b" / rel))


BAD = [(f"{NAME}@v9", "revision 'v9'"), ("hf-hub:org/nothing", "repo org/nothing is not in"),
       ("hf-hub:org/wrong", "does not match the tensors"), ("hf-hub:org/no-config", "has no config.json")]


def _bad_repos(root: Path, cache: Path, tmp_path: Path) -> None:
    import shutil

    place_in_hf_cache(root / "export", cache, "org/tiny")
    place_in_hf_cache(root / "export", cache, "org/no-config", skip=("config.json",))
    wrong = tmp_path / "wrong"
    shutil.copytree(root / "export", wrong)
    config = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**config, "options": {**config["options"],
                                                                          "channel_multiplier": 0.125}}))
    place_in_hf_cache(wrong, cache, "org/wrong")


@pytest.mark.parametrize("name,message", BAD)
def test_bad_hf_names_are_usage_errors_in_the_tools(measured, hf_cache, tmp_path, capsys, name, message):
    from zoo.extract.predict import main as zoo_predict
    from zoo.extract.cli import main as zoo_extract
    from zoo.train.cli import main as zoo_train

    root = measured[0]
    _bad_repos(root, hf_cache, tmp_path)
    data = str(root / "data")
    runs = {"zoo-test": lambda: zoo_test(["--weights", name, "--data-path", data, "-q", "--device", "cpu"]),
            "zoo-predict": lambda: zoo_predict([str(root / "data" / "val" / "c0" / "v.mp4"), "--weights", name,
                                                "--device", "cpu"]),
            "zoo-extract": lambda: zoo_extract(["--weights", name, "--data-path", data, "--split", "val",
                                                "--output", str(tmp_path / "features"), "-q", "--device", "cpu"]),
            "zoo-train": lambda: zoo_train(["--weights", name, "--data-path", data, "--output",
                                            str(tmp_path / "train"), "--device", "cpu"])}
    for tool, call in runs.items():
        assert call() == 2, tool
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (tool, err)
