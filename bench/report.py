"""Size and write time of ``report.html`` at Kinetics scale, and the time headless chromium takes to open it.

A synthetic run of 20,000 videos over 400 classes (``--quick``: 2,000 over 400): records as zoo-test writes
them (400 aggregated scores each, 1% refused, 3% with a warning), ``metrics.json`` from the evaluator's own
summary, the reproduction block of ``ir_csn_152.ig65m_ft_kinetics400`` (10 clips x 3 crops of 256), and views
strips of uniform random noise (the worst case for PNG) for the worst videos. Prints the page size, the
time to write it (reading records.jsonl and metrics.json included) against the time the run's own
``records.jsonl`` + ``metrics.json`` writes take (the baseline, same run), and with chromium the time to open
and screenshot the page against an empty page.

    python bench/report.py            # 20,000 videos, 400 classes
    python bench/report.py --quick
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KINETICS = "ir_csn_152.ig65m_ft_kinetics400"
REASONS = ("undecodable: invalid data found", "truncated: MP4/MOV file cut short", "empty: zero bytes")
WARNINGS = ("rotation: displayed rotated by 90 degrees", "repeated_frames: 3 duplicated AVI frames")


def synthetic_records(num_videos: int, num_classes: int, seed: int = 0) -> list[dict]:
    """Records of a ``num_videos`` run: mostly right with a per-class difficulty, 1% refused, 3% warned."""
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.5, 4.0, num_classes)
    labels = np.arange(num_videos) % num_classes
    logits = rng.normal(0.0, 1.0, (num_videos, num_classes))
    logits[np.arange(num_videos), labels] += difficulty[labels]
    logits[np.arange(num_videos), (labels + 1) % num_classes] += 0.5 * difficulty[labels]  # a favourite confusion
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    right = scores.argmax(axis=1) == labels
    refused, warned = rng.random(num_videos) < 0.01, rng.random(num_videos) < 0.03
    clip_top1 = np.minimum(rng.integers(0, 11, num_videos) + 20 * right, 30)
    records = []
    for index, label in enumerate(labels.tolist()):
        path = f"/data/kinetics400/val/class_{label:03d}/video_{index:05d}.mp4"
        record = {"index": index, "path": path, "video_id": f"class_{label:03d}/video_{index:05d}", "label": label,
                  "rank": 0}
        if refused[index]:
            record.update(status="skipped", reason=REASONS[index % len(REASONS)])
        else:
            record.update(status="ok", views=30, padded=False, clip_top1=int(clip_top1[index]), clip_top5=30,
                          scores=scores[index].tolist())
            if warned[index]:
                record["warnings"] = [WARNINGS[index % len(WARNINGS)]]
        records.append(record)
    return records


def synthetic_metrics(records: list[dict], num_classes: int) -> dict:
    """metrics.json of the records, as zoo-test writes it (with the Kinetics weights' reproduction block)."""
    from zoo.protocol import resolve_settings
    from zoo.evaluate.reproduction import describe_reproduction
    from zoo.evaluate.runner import summarize
    from zoo.hub.lookup import get_weights

    classes = [f"class_{c:03d}" for c in range(num_classes)]
    metrics = summarize(records, classes, "mean_softmax")
    entry = get_weights(KINETICS)
    setup = resolve_settings({}, entry, {})
    metrics.update(aggregate="mean_softmax", short_videos="pad", world_size=1, elapsed_s=5400.0,
                   views_per_second=111.1, settings={"weights": KINETICS, "data_path": "/data/kinetics400",
                                                     "split": "val", **setup.settings()},
                   reproduction=describe_reproduction(setup, entry, {}, weights=KINETICS))
    return metrics


def noise_frames(clips: int = 10, crops: int = 3, size: int = 256, seed: int = 0):
    """``frames_of`` for the report: uniform noise views (PNG cannot compress them)."""
    rng = np.random.default_rng(seed)
    return lambda indices: rng.integers(0, 256, (clips, crops, size, size, 3), dtype=np.uint8)


def write_run_files(folder: Path, records: list[dict], metrics: dict) -> float:
    """Seconds to write records.jsonl and metrics.json the way a finished run does (the baseline)."""
    from zoo.evaluate.records import write_merged_records
    from zoo.evaluate.report import write_metrics

    start = time.perf_counter()
    write_merged_records(folder, records)
    write_metrics(folder, metrics)
    return time.perf_counter() - start


def open_seconds(page: Path, work: Path) -> float:
    """Seconds headless chromium takes to load ``page`` and write a screenshot."""
    command = [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--disable-background-networking", "--disable-component-update", "--no-first-run",
               f"--user-data-dir={work}", "--window-size=1280,1600", f"--screenshot={work / 'shot.png'}",
               page.resolve().as_uri()]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 videos instead of 20,000")
    parser.add_argument("--videos", type=int, help="number of videos (default 20,000; 2,000 with --quick)")
    parser.add_argument("--classes", type=int, default=400)
    args = parser.parse_args(argv)
    from zoo.evaluate.run_report import REPORT_FILE, write_run_report

    num_videos = args.videos or (2000 if args.quick else 20000)
    records = synthetic_records(num_videos, args.classes)
    metrics = synthetic_metrics(records, args.classes)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        baseline = write_run_files(folder, records, metrics)
        start = time.perf_counter()
        page = write_run_report(folder, noise_frames())       # no videos here: noise strips
        seconds = time.perf_counter() - start
        size = page.stat().st_size
        print(f"{num_videos} videos, {args.classes} classes: {REPORT_FILE} {size / 2**20:.2f} MiB "
              f"(records.jsonl {(folder / 'records.jsonl').stat().st_size / 2**20:.1f} MiB, metrics.json "
              f"{(folder / 'metrics.json').stat().st_size / 2**20:.2f} MiB)")
        print(f"write report: {seconds:.2f} s; baseline (write records.jsonl + metrics.json): {baseline:.2f} s; "
              f"ratio {seconds / baseline:.2f}")
        if shutil.which("chromium"):
            empty = folder / "empty.html"
            empty.write_text("<!DOCTYPE html><html><body><p>empty</p></body></html>")
            base = open_seconds(empty, folder / "p0")
            opened = open_seconds(page, folder / "p1")
            print(f"headless chromium, load + screenshot: report {opened:.2f} s, empty page {base:.2f} s, "
                  f"ratio {opened / base:.2f}")
        else:
            print("chromium not installed: open time not measured", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
