"""report.html stays bounded at Kinetics scale: 20,000 videos over 400 classes (bench/report.py's synthetic run,
views strips of incompressible noise at the 10x3 256-pixel CSN protocol) make a page under 20 MB."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from report_helpers import parse_page, row_cells
from zoo.evaluate.run_report import MAX_REFUSED, STRIP_BUDGET, WORST_VIDEOS, run_page

BENCH = Path(__file__).resolve().parents[2] / "bench" / "report.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_report", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_kinetics_scale_report_is_under_20_mb():
    bench = load_bench()
    records = bench.synthetic_records(20000, 400)
    metrics = bench.synthetic_metrics(records, 400)
    text = run_page(metrics, records, bench.noise_frames())
    size = len(text.encode("utf-8"))
    assert size < 20 * 2**20, f"{size / 2**20:.1f} MiB"
    page = parse_page(text)
    assert len(page.by_id("per-class").find_all("tr", **{"class": True})) == 400
    assert len(page.find_all("div", video=True)) == WORST_VIDEOS
    strips = page.find_all("img", step=True)
    assert strips and all(s.attrs["data-step"] == "2" for s in strips)          # 256-pixel crops at half scale
    assert sum(len(s.attrs["src"]) for s in strips) <= STRIP_BUDGET
    assert len(page.by_id("refused").find_all("tr", refused=True)) == min(MAX_REFUSED, metrics["num_skipped"])
    assert row_cells(page.find("tr", metric="num_videos"))[1].value() == metrics["num_videos"] > 19000
