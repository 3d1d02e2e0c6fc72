"""report.html of zoo-test: its numbers are those of metrics.json and records.jsonl, its views strips are the
tensors the model received, and --resume writes it again."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from report_helpers import image_of, parse_page, row_cells
from zoo.data.encode import encode_video
from zoo.evaluate import predictors
from zoo.evaluate.cli import main as zoo_test
from zoo.evaluate.run_report import REPORT_FILE
from zoo.report.images import STRIP_GAP


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


def _shares(scores, label) -> float:
    scores = np.asarray(scores, dtype=np.float64)
    return float(scores[label] / scores.sum())


@pytest.fixture(scope="module")
def bad_run(bad_dataset, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    assert zoo_test(["--checkpoint", str(tiny_checkpoint), "--data-path", str(bad_dataset), "--workers", "0",
                     "--clips", "2", "--output", str(out), "--no-progress"]) == 0
    return out


def test_page_numbers_are_those_of_metrics_and_records(bad_run):
    metrics = json.loads((bad_run / "metrics.json").read_text())
    records = _records(bad_run)
    page = parse_page((bad_run / REPORT_FILE).read_text())
    classes = list(metrics["per_class_accuracy"])

    # summary: every number as in metrics.json
    for key in ("num_videos", "num_unlabelled", "num_skipped", "num_scored_wrong", "num_with_warnings", "num_padded",
                "num_clips",
                "clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy", "elapsed_s",
                "views_per_second"):
        (cell,) = row_cells(page.find("tr", metric=key))[1:]
        assert cell.value() == metrics[key], key
    assert metrics["num_skipped"] == 3 and metrics["num_videos"] == 5
    for kind, count in metrics["skip_counts"].items():
        assert row_cells(page.find("tr", skip_counts=kind))[1].value() == count

    # per class: accuracy, videos and right answers from the confusion matrix, worst first
    cm = np.asarray(metrics["confusion_matrix"])
    rows = page.by_id("per-class").find_all("tr", **{"class": True})
    assert [r.attrs["data-class"] for r in rows] == sorted(
        classes, key=lambda c: (metrics["per_class_accuracy"][c], classes.index(c)))
    for r in rows:
        c = classes.index(r.attrs["data-class"])
        accuracy, videos, right = (cell.value() for cell in row_cells(r)[1:])
        assert (accuracy, videos, right) == (metrics["per_class_accuracy"][classes[c]], cm[c].sum(), cm[c, c])
    pairs = [tuple(map(int, r.attrs["data-pair"].split(","))) for r in page.by_id("confused").find_all("tr", pair=True)]
    off = [(cm[t, p], -t, -p) for t in range(3) for p in range(3) if t != p and cm[t, p]]
    assert pairs == [(-t, -p) for _, t, p in sorted(off, reverse=True)]

    # per video: the labelled videos, worst share of the true class first, with their top-5 scores
    ok = [r for r in records if r["status"] == "ok"]
    expected = sorted(ok, key=lambda r: (_shares(r["scores"], r["label"]), r["index"]))
    shown = page.find_all("div", video=True)
    assert [d.attrs["data-video"] for d in shown] == [r["video_id"] for r in expected]
    assert [d.find("h3").text for d in shown] == [r["path"] for r in expected]
    for div, record in zip(shown, expected):
        top = div.find_all("li", **{"class": True})
        order = np.argsort(-np.asarray(record["scores"]), kind="stable")[:5]
        assert [li.attrs["data-class"] for li in top] == [classes[c] for c in order]
        assert [li.value() for li in top] == [record["scores"][c] for c in order]
        truth = [li for li in top if li.attrs.get("class") == "truth"]
        assert [li.attrs["data-class"] for li in truth] == ([classes[record["label"]]] if record["label"] in order
                                                           else [])
        assert div.find("img").attrs["data-clips"] == "2"

    # refused videos with their reasons
    refused = {r.attrs["data-refused"]: row_cells(r)[1].text for r in page.by_id("refused").find_all("tr", refused=True)}
    assert refused == {s["path"]: s["reason"] for s in metrics["skipped"]}
    assert refused == {r["path"]: r["reason"] for r in records if r["status"] == "skipped"}


def test_videos_scored_wrong_are_listed_with_their_reasons(known_dataset, tiny_checkpoint, tmp_path):
    # 4 frames every 6 span 19 frames: every 16-frame video is too short, and the rule 'wrong' scores it a miss
    out = tmp_path / "out"
    zoo_test(["--checkpoint", str(tiny_checkpoint), "--data-path", str(known_dataset), "--workers", "0",
              "--clip-len", "4", "--sampling-rate", "6", "--short-videos", "wrong", "--output", str(out),
              "--no-progress"])
    metrics = json.loads((out / "metrics.json").read_text())
    page = parse_page((out / REPORT_FILE).read_text())
    assert metrics["num_scored_wrong"] == 5 == row_cells(page.find("tr", metric="num_scored_wrong"))[1].value()
    listed = {r.attrs["data-scored-wrong"]: row_cells(r)[1].text
              for r in page.by_id("scored-wrong").find_all("tr", **{"scored-wrong": True})}
    assert listed == {w["path"]: w["reason"] for w in metrics["scored_wrong"]}
    assert row_cells(page.find("tr", metric="video_top1"))[1].value() == metrics["video_top1"] == 0.0
    assert page.find_all("div", video=True) == []


def test_protocol_block_without_weights_names_each_source(bad_run):
    metrics = json.loads((bad_run / "metrics.json").read_text())
    page = parse_page((bad_run / REPORT_FILE).read_text())
    block = metrics["reproduction"]
    assert block["weights"] is None and block["published"] == [] and block["differs"] == []
    rows = {r.attrs["data-field"]: [c.text for c in row_cells(r)] for r in page.by_id("protocol").find_all("tr", field=True)}
    settings = metrics["settings"]
    assert rows["num_clips"][1:3] == [str(settings["clips"]), "command line"]          # --clips 2
    assert rows["clip_len"][1:3] == [str(settings["clip_len"]), "checkpoint"]
    assert rows["aggregation"][1:3] == ["mean_softmax", "default"]
    assert rows["short_videos"][1:3] == ["pad", "default"]
    assert rows["crop_rule"][1:3] == [settings["crop_rule"], "default"]
    assert "no published numbers" in page.by_id("reproduction").text


@pytest.fixture(scope="module")
def textured_dataset(tmp_path_factory) -> Path:
    """Three videos whose every frame differs (moving gradients and noise), 24 frames of 40x56."""
    root = tmp_path_factory.mktemp("textured") / "data"
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:40, 0:56]
    for i, name in enumerate(("c0/a.mp4", "c1/b.mp4", "c2/c.mp4")):
        frames = []
        for t in range(24):
            base = np.stack([(x * 4 + t * 9 + 60 * i) % 256, (y * 6 + t * 5) % 256, (x + y + t * 11) % 256], -1)
            frames.append(np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8))
        path = root / "val" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        encode_video(path, np.stack(frames), fps=25)
    return root


def test_views_strip_equals_the_tensors_the_model_received(textured_dataset, tiny_checkpoint, tmp_path, monkeypatch):
    received = []
    real = predictors.TorchPredictor._input

    def spy(self, views):
        x = real(self, views)
        received.append(x.detach().clone())
        return x

    monkeypatch.setattr(predictors.TorchPredictor, "_input", spy)
    out = tmp_path / "out"
    # one video per forward pass, decoded in this process: the i-th input is the i-th video's views
    assert zoo_test(["--checkpoint", str(tiny_checkpoint), "--data-path", str(textured_dataset), "--workers", "0",
                     "--batch-videos", "1", "--clips", "3", "--crops", "3", "--output", str(out),
                     "--no-progress"]) == 0
    records = {r["video_id"]: r for r in _records(out)}
    assert len(received) == 3 and all(x.shape[0] == 9 for x in received)
    mean = torch.tensor([0.45] * 3).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.225] * 3).view(1, 3, 1, 1, 1)
    page = parse_page((out / REPORT_FILE).read_text())
    videos = page.find_all("div", video=True)
    assert len(videos) == 3
    for div in videos:
        x = received[records[div.attrs["data-video"]]["index"]]
        pixels = torch.round((x * std + mean) * 255).clamp(0, 255).to(torch.uint8)   # de-normalised model input
        middle = pixels[:, :, x.shape[2] // 2].permute(0, 2, 3, 1).numpy()            # (views, H, W, 3)
        img = div.find("img")
        assert img.attrs["data-step"] == "1"
        strip = image_of(img)
        h, w = middle.shape[1:3]
        assert strip.shape == (3 * h + 2 * STRIP_GAP, 3 * w + 2 * STRIP_GAP, 3)
        for view in range(9):
            clip, crop = divmod(view, 3)
            y0, x0 = crop * (h + STRIP_GAP), clip * (w + STRIP_GAP)
            np.testing.assert_array_equal(strip[y0:y0 + h, x0:x0 + w], middle[view])
        # the three crops of a clip differ (a strip of one repeated frame would pass the loop above too)
        assert not np.array_equal(middle[0], middle[1]) and not np.array_equal(middle[0], middle[3])


def test_resume_writes_the_report_again(bad_run, bad_dataset, tiny_checkpoint):
    before = parse_page((bad_run / REPORT_FILE).read_text())
    (bad_run / REPORT_FILE).unlink()
    (bad_run / f".{REPORT_FILE}.a1b2c3d4.html").write_text("<html>half a page written by a killed run")
    assert zoo_test(["--checkpoint", str(tiny_checkpoint), "--data-path", str(bad_dataset), "--workers", "0",
                     "--clips", "2", "--output", str(bad_run), "--no-progress", "--resume"]) == 0
    after = parse_page((bad_run / REPORT_FILE).read_text())
    metrics = json.loads((bad_run / "metrics.json").read_text())
    for key in ("num_videos", "video_top1", "mean_class_accuracy"):
        assert row_cells(after.find("tr", metric=key))[1].value() == metrics[key] == \
            row_cells(before.find("tr", metric=key))[1].value()
    assert [d.attrs["data-video"] for d in after.find_all("div", video=True)] == \
        [d.attrs["data-video"] for d in before.find_all("div", video=True)]
    assert not list(bad_run.glob(f".{REPORT_FILE}.*"))     # no temporary file left behind


def test_folds_summary_page(tmp_path):
    files = []
    for k, clip, video in ((1, 0.80, 0.90), (2, 0.70, 0.86), (3, 0.75, 0.88)):
        path = tmp_path / f"runs/f{k}/metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"clip_top1": clip, "video_top1": video, "video_top5": 1.0, "num_videos": 10 + k,
                                    "settings": {"data_path": "/data/ucf101", "split": f"test_fold{k}"}}))
        files.append(str(path))
    assert zoo_test(["--folds", *files, "--output", str(tmp_path / "sum")]) == 0
    summary = json.loads((tmp_path / "sum/folds_summary.json").read_text())
    page = parse_page((tmp_path / "sum/folds_report.html").read_text())
    for key in ("clip_top1", "video_top1", "video_top5"):
        values = [c.value() for c in row_cells(page.find("tr", metric=key))[1:]]
        assert values == [summary[key][s] for s in ("mean", "std", "min", "max")]
    rows = page.by_id("fold-table").find_all("tr", fold=True)
    assert [r.attrs["data-fold"] for r in rows] == files
    assert [[c.value() for c in row_cells(r)[4:]] for r in rows] == \
        [[f["num_videos"], f["clip_top1"], f["video_top1"], f["video_top5"]] for f in summary["folds"]]
    (chart,) = page.by_id("folds").find_all("img")
    assert image_of(chart).std() > 0


def _denormalised_middle_frames(received: list[torch.Tensor]) -> np.ndarray:
    """``(views, H, W, 3)``: the middle frame of every view the model received, back in pixels."""
    x = torch.cat(received)
    mean = torch.tensor([0.45] * 3).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.225] * 3).view(1, 3, 1, 1, 1)
    pixels = torch.round((x * std + mean) * 255).clamp(0, 255).to(torch.uint8)
    return pixels[:, :, x.shape[2] // 2].permute(0, 2, 3, 1).numpy()


def _strip_frames(img, columns: int, rows: int, h: int, w: int) -> np.ndarray:
    """The frames of a views strip in view order (column-major: clip, then crop)."""
    strip = image_of(img)
    assert strip.shape == (rows * h + (rows - 1) * STRIP_GAP, columns * w + (columns - 1) * STRIP_GAP, 3)
    return np.stack([strip[r * (h + STRIP_GAP):r * (h + STRIP_GAP) + h, c * (w + STRIP_GAP):c * (w + STRIP_GAP) + w]
                     for c in range(columns) for r in range(rows)])


@pytest.mark.parametrize("windows", [["--clips", "3", "--crops", "3"], ["--stride", "5"]], ids=["views", "sliding"])
def test_predict_page_shows_what_the_model_received(windows, textured_dataset, tiny_checkpoint, tmp_path,
                                                     monkeypatch, capsys):
    from zoo.extract.predict import main as zoo_predict

    received = []
    real = predictors.TorchPredictor._input
    monkeypatch.setattr(predictors.TorchPredictor, "_input",
                        lambda self, views: received.append(real(self, views)) or received[-1])
    video, page_path = textured_dataset / "val/c1/b.mp4", tmp_path / "b.html"
    assert zoo_predict([str(video), "--checkpoint", str(tiny_checkpoint), *windows, "--report", str(page_path),
                        "--json", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    page = parse_page(page_path.read_text())
    top = page.by_id("top").find_all("tr", **{"class": True})
    assert [(r.attrs["data-class"], row_cells(r)[2].value()) for r in top] == \
        [(t["class"], t["score"]) for t in printed["top"]]
    middle = _denormalised_middle_frames(received)
    img = page.by_id("views").find("img")
    columns, rows = int(img.attrs["data-clips"]), int(img.attrs["data-crops"])
    assert columns * rows == len(middle) and img.attrs["data-step"] == "1"
    np.testing.assert_array_equal(_strip_frames(img, columns, rows, *middle.shape[1:3]), middle)
    timeline = page.find_all("section")
    if windows[0] == "--stride":
        # 24 frames, windows of 4 every 5 frames: starts 0, 5, 10, 15, 20
        assert (columns, rows) == (5, 1)
        assert image_of(page.by_id("timeline").find("img")).std() > 0
    else:
        assert (columns, rows) == (3, 3) and "timeline" not in [s.attrs.get("id") for s in timeline]


def test_predict_report_takes_one_video(textured_dataset, tiny_checkpoint, tmp_path, capsys):
    from zoo.extract.predict import main as zoo_predict

    videos = [str(textured_dataset / "val/c1/b.mp4"), str(textured_dataset / "val/c2/c.mp4")]
    assert zoo_predict([*videos, "--checkpoint", str(tiny_checkpoint), "--report", str(tmp_path / "p.html")]) == 2
    assert "--report writes one video's page: give one VIDEO, not 2" in capsys.readouterr().err
    assert zoo_predict([videos[0], "--checkpoint", str(tiny_checkpoint), "--stride", "4", "--crops", "3"]) == 2
    assert "drop --clips and --crops" in capsys.readouterr().err
    assert not (tmp_path / "p.html").exists()
