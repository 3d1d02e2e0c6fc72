"""zoo-test --weights NAME: report.html puts the entry's published metrics beside the measured ones and says
where this run's protocol differs from the published one. The weights are a tiny stand-in (a Caffe2 pickle
written by our converter) registered under a name and served by the local test mirror ($ZOO_MIRRORS)."""
from __future__ import annotations

import html.parser
import json

import numpy as np
import pytest

from zoo.data.encode import encode_video
from zoo.evaluate.cli import main as zoo_test
from zoo.hub import register_weights, unregister_weights

NAME = "r3d_18.tiny_report"
PROTOCOL = "torchvision_ref_5clip_center112"     # a protocol of weights.json: 5 clips, 128x171, 112 crop, 15 fps
PUBLISHED = [{"dataset": "tiny3", "split": "val", "level": "video", "top1": 50.0, "top5": 100.0, "protocol": PROTOCOL,
              "source": "made up for this test"},
             {"dataset": "tiny3", "split": "val", "level": "clip", "top1": 40.0, "top5": None, "protocol": PROTOCOL,
              "source": "made up for this test"}]


class _Cells(html.parser.HTMLParser):
    """``(data-level or data-field of the row, data-key or column number) -> (data-value, text)``."""

    def __init__(self):
        super().__init__()
        self.cells, self.row, self.cell, self.column = {}, None, None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.row, self.column = attrs.get("data-level") or attrs.get("data-field"), 0
        elif tag == "td" and self.row:
            self.cell = [attrs.get("data-key", self.column), attrs.get("data-value"), ""]
            self.column += 1

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[2] += data

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            key, value, text = self.cell
            self.cells[(self.row, key)] = (None if value in (None, "") else float(value), text.strip())
            self.cell = None


@pytest.fixture
def mirrored_weights(fake_hub, tiny, refused_url, monkeypatch):
    """The stand-in's pickle on the mirror only (its primary URL refuses connections)."""
    fake_hub.add_file("mirror/tiny_report_f1.pkl", tiny.pickle_bytes)
    monkeypatch.setenv("ZOO_MIRRORS", fake_hub.url("mirror"))
    register_weights(NAME, {"arch": "r3d_18", "num_classes": 3, "options": {"channel_multiplier": 1 / 16},
                            "clip_len": 4, "crop_size": 32, "mean": [0.43, 0.39, 0.37], "std": [0.22, 0.22, 0.21],
                            "label_set": "tiny3", "classes": ["c0", "c1", "c2"], "metrics": PUBLISHED,
                            "sources": [{"format": "c2_pickle", "url": f"{refused_url}/tiny_report_f1.pkl",
                                         "filename": "tiny_report_f1.pkl", "sha256": None}]})
    yield fake_hub
    unregister_weights(NAME)


def test_published_metrics_beside_the_measured_ones(mirrored_weights, tmp_path):
    rng = np.random.default_rng(3)
    for c in range(3):
        path = tmp_path / f"data/val/c{c}/v.mp4"
        path.parent.mkdir(parents=True)
        encode_video(path, rng.integers(0, 256, (20, 32, 40, 3), dtype=np.uint8), fps=30)
    out = tmp_path / "out"
    assert zoo_test(["--weights", NAME, "--data-path", str(tmp_path / "data"), "--workers", "0", "--clips", "2",
                     "--short-videos", "pad", "--output", str(out), "--no-progress"]) == 0
    assert mirrored_weights.count("GET", "/mirror/tiny_report_f1.pkl") == 1
    metrics = json.loads((out / "metrics.json").read_text())
    block = metrics["reproduction"]
    assert block["weights"] == NAME and block["published_protocol"] == PROTOCOL and block["published"] == PUBLISHED
    text = (out / "report.html").read_text()
    parser = _Cells()
    parser.feed(text)
    cells = parser.cells

    # published vs measured, per level, in percent
    for level, measured in (("video", metrics["video_top1"]), ("clip", metrics["clip_top1"])):
        published = next(m for m in PUBLISHED if m["level"] == level)
        assert cells[(level, "published_top1")][0] == published["top1"]
        assert cells[(level, "measured_top1")][0] == 100 * measured
        assert cells[(level, "difference_top1")][0] == 100 * measured - published["top1"]
    assert cells[("video", "measured_top5")][0] == 100 * metrics["video_top5"]
    assert cells[("clip", "published_top5")] == (None, "\u2013")          # not published: a dash, no difference
    assert cells[("clip", "difference_top5")][0] is None

    # the protocol: each setting's value, source and published value; the differences said in one line
    rows = {r["field"]: r for r in block["protocol"]}
    assert (rows["num_clips"]["value"], rows["num_clips"]["source"], rows["num_clips"]["published"]) == \
        (2, "command line", 5)
    assert (rows["resize"]["value"], rows["resize"]["source"]) == ([128, 171], "weights entry")
    assert (rows["frame_rate"]["value"], rows["crop_size"]["value"]) == (15, 112)
    assert (rows["clip_len"]["value"], rows["clip_len"]["source"]) == (4, "weights entry")
    assert (rows["aggregation"]["value"], rows["resize_filter"]["value"]) == ("sum_softmax", "torch_bilinear")
    assert (rows["short_videos"]["value"], rows["short_videos"]["source"], rows["short_videos"]["published"]) == \
        ("pad", "command line", "wrong")
    assert block["differs"] == ["num_clips", "short_videos"]
    assert cells[("num_clips", 1)][1] == "2" and cells[("num_clips", 2)][1] == "command line" and \
        cells[("num_clips", 3)][1] == "5"
    assert '<tr class="differs" data-field="num_clips">' in text
    assert (f"This run&#x27;s protocol differs from the published one ({PROTOCOL}): num_clips 2 instead of 5; "
            "short_videos pad instead of wrong.") in text
