"""--fold on zoo-train / zoo-test, --recipe finetune's precedence, and zoo-test --folds (the 3-fold summary)."""
from __future__ import annotations

import json
import statistics

import pytest

import zoo
from zoo.data.datasets import evaluation_split
from zoo.data.prepare.cli import main as prepare
from zoo.extract.cli import main as zoo_extract
from zoo.evaluate.cli import main as zoo_test
from zoo.train.cli import main as zoo_train, parse_args

from official_layouts import write_ucf101


def _metrics(path, clip, video, split, data="/data/ucf101"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"clip_top1": clip, "video_top1": video, "video_top5": min(1.0, video + 0.1),
                                "num_videos": 100, "settings": {"data_path": data, "split": split,
                                                                "checkpoint": f"/runs/{split}/best.safetensors"}}))
    return str(path)


def test_three_fold_summary_is_printed_and_written(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    files = [_metrics(runs / f"ucf101-f{k}" / "metrics.json", clip, video, f"test_fold{k}")
             for k, clip, video in ((1, 0.80, 0.90), (2, 0.70, 0.86), (3, 0.75, 0.88))]
    monkeypatch.chdir(tmp_path)
    assert zoo_test(["--folds", *files]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "folds_summary.json").read_text())
    assert summary["num_folds"] == 3 and [f["split"] for f in summary["folds"]] == ["test_fold1", "test_fold2",
                                                                                     "test_fold3"]
    assert summary["clip_top1"]["mean"] == pytest.approx(0.75)
    assert summary["clip_top1"]["std"] == pytest.approx(statistics.stdev([0.80, 0.70, 0.75]))
    assert summary["video_top1"]["mean"] == pytest.approx(0.88)
    assert summary["video_top1"]["std"] == pytest.approx(0.02)
    assert "   75.00 +- 5.00" in printed and "   88.00 +- 2.00" in printed and "ucf101-f2 test_fold2" in printed

    assert zoo_test(["--folds", *files, "--output", str(tmp_path / "sum")]) == 0
    assert json.loads((tmp_path / "sum" / "folds_summary.json").read_text()) == summary


def test_folds_summary_errors(tmp_path, capsys):
    a = _metrics(tmp_path / "a" / "metrics.json", 0.5, 0.6, "test_fold1")
    b = _metrics(tmp_path / "b" / "metrics.json", 0.5, 0.6, "test_fold1")
    c = _metrics(tmp_path / "c" / "metrics.json", 0.5, 0.6, "test_fold2")
    assert zoo_test(["--folds", a, b]) == 1
    assert "evaluate the same fold (test_fold1 of /data/ucf101)" in capsys.readouterr().err
    assert zoo_test(["--folds", a]) == 2
    assert "at least two metrics files" in capsys.readouterr().err
    assert zoo_test(["--folds", a, str(tmp_path / "none.json")]) == 2
    assert "none.json: no such metrics file" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"clip_top1": 0.5, "video_top1": null}')
    assert zoo_test(["--folds", a, str(tmp_path / "bad.json")]) == 1
    assert "'video_top1' is None" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert zoo_test(["--folds", a, str(tmp_path / "broken.json")]) == 1
    assert "not a JSON metrics file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        zoo_test(["--folds", a, c, "--checkpoint", "x.safetensors"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        zoo_test(["--folds", str(tmp_path / "folds_summary.json"), c, "--output", str(tmp_path)])
    assert exc.value.code == 2 and "is one of the metrics files" in capsys.readouterr().err


def test_fold_option_errors(tmp_path, capsys):
    videos, splits = write_ucf101(tmp_path, ["A", "B"], per_class=3)
    data = tmp_path / "lists"
    assert prepare(["ucf101", str(videos), str(splits), str(data)]) == 0
    capsys.readouterr()
    for argv in (["--data-path", str(data), "--fold", "1", "--train-split", "train"],
                 ["--data-path", str(data), "--fold", "1", "--val-split", "val"],
                 ["--fold", "1"], ["--data-path", str(data), "--fold", "0"]):
        with pytest.raises(SystemExit) as exc:
            parse_args(argv)
        assert exc.value.code == 2
    args = parse_args(["--data-path", str(data), "--fold", "2", "--val-split", "none"])
    assert (args.train_split, args.val_split) == ("train_fold2", "none")
    assert zoo_train(["--data-path", str(data), "--fold", "4", "--output-dir", str(tmp_path / "run")]) == 2
    assert "no fold 4 (train_fold4.csv/test_fold4.csv; folds present: 1, 2, 3)" in capsys.readouterr().err

    ckpt = tmp_path / "m.safetensors"
    zoo.save_checkpoint(zoo.create_model("r2plus1d_10", 2, channel_multiplier=0.125), ckpt, classes=["A", "B"])
    assert zoo_test(["--data-path", str(data), "--fold", "1", "--split", "val", "--checkpoint", str(ckpt)]) == 2
    assert "--fold N or --split, not both" in capsys.readouterr().err
    assert zoo_test(["--data-path", str(data), "--fold", "7", "--checkpoint", str(ckpt)]) == 2
    assert "no fold 7" in capsys.readouterr().err
    assert zoo_extract(["--data-path", str(data), "--fold", "7", "--checkpoint", str(ckpt),
                        "--output", str(tmp_path / "feats"), "-q"]) == 2
    assert "no fold 7" in capsys.readouterr().err and not (tmp_path / "feats").exists()
    assert evaluation_split(data, 2, None, "val") == "test_fold2" and evaluation_split(data, None, None, "val") == "val"


def test_recipe_values_come_from_the_weights_and_every_given_flag_wins(tmp_path, capsys):
    ckpt = tmp_path / "csn-like.safetensors"
    zoo.save_checkpoint(zoo.create_model("r2plus1d_10", 5, channel_multiplier=0.125), ckpt,
                        clip_len=32, sampling_rate=2, resize=256, crop_size=224, frame_rate=None)
    args = parse_args(["--recipe", "finetune", "--checkpoint", str(ckpt), "--epochs", "3", "--wd", "0.005",
                       "--lr-mult", "fc=5", "--lr-mult", "stem=0"])
    assert (args.clip_len, args.sampling_rate, args.frame_rate) == (32, 2, 0.0)
    assert args.train_scale_jitter == [256, 320] and args.val_resize_size == [256]
    assert args.train_crop_size == args.val_crop_size == 224
    assert args.new_head and args.freeze_bn and args.nesterov and args.eval_every == 0
    assert (args.epochs, args.weight_decay, args.lr_mult) == (3, 0.005, [("fc", 5.0), ("stem", 0.0)])
    assert args.lr == pytest.approx(0.001) and args.batch_size == 8 and args.lr_milestones == [4.0, 6.0]
    assert any("--weight-decay" in line and "(command line)" in line for line in args.recipe_lines)

    args = parse_args(["--recipe", "finetune", "--checkpoint", str(ckpt), "--train-resize-size", "240", "320",
                       "--clip-len", "16", "--no-flip"])
    assert args.train_scale_jitter is None and tuple(args.train_resize_size) == (240, 320)
    assert args.clip_len == 16 and args.flip is False

    with pytest.raises(SystemExit) as exc:
        parse_args(["--recipe", "finetune"])
    assert exc.value.code == 2 and "needs the weights to start from" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        parse_args(["--recipe", "finetune", "--weights", "no_such_weights"])
    assert exc.value.code == 2 and "unknown weights" in capsys.readouterr().err
