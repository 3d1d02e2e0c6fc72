"""docs/zoo.png, the zoo at a glance: its data is regenerated from weights.json and zoo.describe and compared."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo.hub.cli import main
from zoo.hub.overview import data_path, overview_rows, write_overview
from zoo.weights import list_weights

ROOT = Path(__file__).resolve().parents[2]
PNG = ROOT / "docs" / "zoo.png"


@pytest.fixture(scope="module")
def rows():
    return overview_rows()


def test_docs_zoo_data_matches_the_registry_and_the_builders(rows):
    stored = json.loads(data_path(PNG).read_text())
    assert rows == stored, "docs/zoo.png is stale: regenerate it with `zoo-hub list --plot docs/zoo.png`"
    names = [r["name"] for r in rows["plotted"]] + [r["name"] for r in rows["not_plotted"]]
    assert sorted(names) == list_weights()                      # every released weight, once
    by_name = {r["name"]: r for r in rows["plotted"]}
    csn = by_name["ir_csn_152.ig65m_ft_kinetics400"]
    assert (csn["family"], csn["dataset"], csn["level"], csn["top1"], csn["input"]) == \
        ("ir_csn", "kinetics400", "video", 82.6, "32x224x224")
    assert by_name["r2plus1d_18.kinetics400_8f"]["gflops"] == 20.75   # the README model table's GMACs
    assert {"name": "ir_csn_152.ig65m", "reason": "no published top-1"} in rows["not_plotted"]


def test_readme_shows_the_plot_above_the_model_table():
    readme = (ROOT / "README.md").read_text()
    assert PNG.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "](docs/zoo.png)" in readme
    assert readme.index("](docs/zoo.png)") < readme.index("| model | input |")


def test_list_plot_writes_the_png_and_its_data(rows, tmp_path, monkeypatch, capsys):
    import matplotlib.image

    monkeypatch.setattr("zoo.hub.overview.overview_rows", lambda: rows)
    out = tmp_path / "plots" / "zoo.png"
    assert main(["list", "--family", "c3d", "--plot", str(out)]) == 0
    assert f"plot in {out}" in capsys.readouterr().out
    assert json.loads((tmp_path / "plots" / "zoo.json").read_text()) == rows
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 500 and image.shape[1] > 1000
    assert main(["list", "--plot", str(tmp_path / "zoo.svg")]) == 2
    assert main(["list", "--plot", str(tmp_path)]) == 2


def test_one_marker_per_family_and_a_label_per_point(rows, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    kept = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", kept.append)   # keep the figure to look at what was drawn
    write_overview(tmp_path / "zoo.png", rows)
    figure = kept[0]
    shapes: dict[str, set] = {}
    for ax in figure.axes:
        for collection, family in zip(ax.collections, ax.get_legend_handles_labels()[1]):
            shapes.setdefault(family, set()).add(collection.get_paths()[0].vertices.tobytes())
    assert set(shapes) == {r["family"] for r in rows["plotted"]}
    assert all(len(shape) == 1 for shape in shapes.values())          # the same marker in every panel
    assert len({next(iter(shape)) for shape in shapes.values()}) == len(shapes)   # and one per family
    labels = [text.get_text() for ax in figure.axes for text in ax.texts]
    assert len(labels) == len(rows["plotted"]) and "ir_csn_152.ig65m" in labels
    real_close(figure)
