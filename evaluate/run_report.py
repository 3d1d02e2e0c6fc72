"""``report.html`` of a ``zoo-test`` run: one self-contained page a researcher opens in a browser.

Built from the run's own files, ``metrics.json`` and ``records.jsonl``, so the page says nothing the files do
not: the reproduction block (published metrics of ``--weights`` beside the measured ones, and the protocol
with each setting's source), the summary, per-class accuracy with the confusion matrix and the most confused
pairs, and per video the worst-scored videos with a strip of the views the model received, and the refused
videos with their reasons. Bounded at Kinetics scale: the lists are cut (the files have everything) and the
views strips stop at a byte budget.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from zoo.evaluate.records import load_records
from zoo.evaluate.report import write_metrics
from zoo.evaluate.reproduction import compare_metrics
from zoo.report import page as P
from zoo.report.images import confusion_figure, figure_png, middle_frames

REPORT_FILE = "report.html"
#: worst-scored videos listed (each with its views strip while :data:`STRIP_BUDGET` lasts)
WORST_VIDEOS = 16
#: characters of views strips (base64 PNG) at most in one page; the first strip is always shown
STRIP_BUDGET = 8 * 2**20
#: refused videos listed by name (all are in metrics.json)
MAX_REFUSED = 200
CONFUSED_PAIRS = 10
TRUTH = ' class="truth"'
#: the views strip frames of one video from the dataset indices of its samples
FramesOf = Callable[[Sequence[int]], np.ndarray]


def finish_run_report(output_dir: str | os.PathLike, metrics: dict, reproduction: dict, samples: Sequence,
                      spec) -> Path:
    """The last step of a run: ``reproduction`` (:func:`zoo.evaluate.reproduction.describe_reproduction`)
    added to ``metrics`` and ``metrics.json``, then ``report.html`` written with the views strips of the
    run's ``samples`` decoded again with its view ``spec``."""
    metrics["reproduction"] = reproduction
    write_metrics(output_dir, metrics)
    return write_run_report(output_dir, received_frames(samples, spec))


def write_run_report(output_dir: str | os.PathLike, frames_of: FramesOf | None = None, *,
                     worst: int = WORST_VIDEOS, strip_budget: int = STRIP_BUDGET) -> Path:
    """Write ``OUTPUT/report.html`` (atomic) from the run's ``metrics.json`` and records (``frames_of``: see
    :func:`run_page`)."""
    output_dir = Path(output_dir)
    metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    records = list(load_records(output_dir).values())
    return P.write_page(output_dir / REPORT_FILE,
                        run_page(metrics, records, frames_of, worst=worst, strip_budget=strip_budget))


def received_frames(samples: Sequence, spec) -> FramesOf:
    """``frames_of`` for :func:`run_page`: the middle frames ``(clips, crops, H, W, 3)`` of the views of the
    samples at the given indices, decoded again exactly as the model received them."""
    from zoo.evaluate.worst_videos import received_views

    return lambda indices: middle_frames(received_views(samples, spec, indices), spec.num_crops)


def run_page(metrics: dict, records: Sequence[dict], frames_of: FramesOf | None = None, *,
             worst: int = WORST_VIDEOS, strip_budget: int = STRIP_BUDGET) -> str:
    """The HTML text of a run's report; ``frames_of(indices)`` gives the middle frames ``(clips, crops, H, W,
    3)`` of the views of the video made of the samples at ``indices`` (no strips without it)."""
    settings = metrics.get("settings") or {}
    classes = list(metrics.get("per_class_accuracy") or {})
    what = settings.get("weights") or Path(settings.get("checkpoint") or "checkpoint").name
    data = " ".join(filter(None, (settings.get("data_path"), settings.get("split") and f"[{settings['split']}]")))
    sections = [P.Section("reproduction", "Reproduction", reproduction_section(metrics)),
                P.Section("summary", "Summary", summary_section(metrics)),
                P.Section("classes", "Per class", class_section(metrics, classes)),
                P.Section("videos", "Per video", video_section(metrics, records, classes, frames_of, worst,
                                                               strip_budget))]
    return P.render(f"zoo-test report: {what}", P.esc(f"{data} - {metrics.get('num_videos', 0)} videos evaluated"),
                    sections)


# ------------------------------------------------------------------------------------------ reproduction
def reproduction_section(metrics: dict) -> str:
    block = metrics.get("reproduction")
    if not block:
        return P.paragraph("This run has no reproduction record (metrics.json written by an older zoo-test).", "info")
    parts = []
    comparison = compare_metrics(block, metrics)
    if block.get("weights") and comparison:
        rows = []
        for c in comparison:
            cells = [P.cell(c["dataset"]), P.cell(c["split"]), P.cell(c["level"]), P.cell(c["protocol"])]
            for k in ("top1", "top5"):
                diff = c[f"difference_{k}"]
                cls = "" if diff is None else "pos" if diff >= 0 else "neg"
                cells += [P.number(c[f"published_{k}"], attrs=P.data_attr("key", f"published_{k}")),
                          P.number(c[f"measured_{k}"], attrs=P.data_attr("key", f"measured_{k}")),
                          P.number(diff, "{:+.2f}", cls=cls, attrs=P.data_attr("key", f"difference_{k}"))]
            rows.append(P.row(cells + [P.cell(c["source"], cls="muted")], P.data_attr("level", c["level"])))
        parts.append(f"<h3>Published vs measured: {P.esc(block['weights'])}</h3>")
        parts.append(P.table(["dataset", "split", "level", "protocol", "published top-1 %", "measured top-1 %",
                              "difference", "published top-5 %", "measured top-5 %", "difference", "source"],
                             rows, attrs=' id="published"'))
    elif block.get("weights"):
        parts.append(P.paragraph(f"{block['weights']}: weights.json publishes no metrics for these weights.", "info"))
    else:
        parts.append(P.paragraph("Evaluated from --checkpoint: no published numbers to compare with (give --weights "
                                 "NAME for released weights).", "info"))
    differs = block.get("differs") or []
    if block.get("published_protocol"):
        if differs:
            fields = "; ".join(f"{r['field']} {P.shown(r['value'])} instead of {P.shown(r['published'])}"
                               for r in block["protocol"] if r["differs"])
            parts.append(P.paragraph(f"This run's protocol differs from the published one "
                                     f"({block['published_protocol']}): {fields}.", "bad"))
        else:
            parts.append(P.paragraph(f"This run used the published protocol ({block['published_protocol']}) in every "
                                     "setting it states.", "ok"))
    rows = [P.row([P.cell(r["field"].replace("_", " ")), P.cell(P.shown(r["value"])), P.cell(r["source"]),
                   P.cell(P.shown(r["published"]) if block.get("published_protocol") else "", cls="muted")],
                  P.data_attr("field", r["field"]), "differs" if r["differs"] else "")
            for r in block["protocol"]]
    parts.append("<h3>Protocol of this run</h3>")
    parts.append(P.table(["setting", "this run", "from", "published protocol"], rows, attrs=' id="protocol"'))
    if block.get("published_protocol_description"):
        parts.append(P.paragraph(f"{block['published_protocol']}: {block['published_protocol_description']}", "muted"))
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------ summary
def summary_section(metrics: dict) -> str:
    def line(name, key, cell):
        return P.row([P.cell(name), cell], P.data_attr("metric", key))

    elapsed = metrics.get("elapsed_s")
    vps = metrics.get("views_per_second")
    rows = [line("videos evaluated (labelled)", "num_videos", P.number(metrics.get("num_videos"), "{:d}")),
            line("videos evaluated without a label", "num_unlabelled", P.number(metrics.get("num_unlabelled", 0), "{:d}")),
            line("videos refused", "num_skipped", P.number(metrics.get("num_skipped", 0), "{:d}")),
            line("videos scored wrong (shorter than a clip, no view)", "num_scored_wrong",
                 P.number(metrics.get("num_scored_wrong", 0), "{:d}")),
            line("videos evaluated with a warning", "num_with_warnings",
                 P.number(metrics.get("num_with_warnings", 0), "{:d}")),
            line("videos padded (shorter than a clip)", "num_padded", P.number(metrics.get("num_padded", 0), "{:d}")),
            line("views (clips x crops) evaluated", "num_clips", P.number(metrics.get("num_clips"), "{:d}"))]
    rows += [line(f"{name} %", key, P.percent(metrics.get(key))) for name, key in (
        ("clip top-1", "clip_top1"), ("clip top-5", "clip_top5"), ("video top-1", "video_top1"),
        ("video top-5", "video_top5"), ("mean class accuracy", "mean_class_accuracy"))]
    rows += [line("time of this run (s)", "elapsed_s", P.number(elapsed, "{:.1f}")),
             line("throughput (views/s)", "views_per_second", P.number(vps, "{:.1f}"))]
    parts = [P.table(["", "value"], rows, attrs=' id="summary-table"')]
    for title, key, counts in (("Refused, by reason", "skip_counts", metrics.get("skip_counts") or {}),
                               ("Warned, by kind", "warning_counts", metrics.get("warning_counts") or {})):
        if counts:
            parts.append(f"<h3>{P.esc(title)}</h3>")
            parts.append(P.table(["kind", "videos"], [P.row([P.cell(k), P.number(v, "{:d}")], P.data_attr(key, k))
                                                     for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------- per class
def confused_pairs(confusion: np.ndarray, count: int = CONFUSED_PAIRS) -> list[tuple[int, int, int]]:
    """The ``count`` largest off-diagonal cells ``(true, predicted, videos)``, largest first (ties: lower
    class indices first); empty cells are left out."""
    cm = np.array(confusion, dtype=np.int64)
    np.fill_diagonal(cm, 0)
    flat = np.argsort(-cm, axis=None, kind="stable")[:count]
    pairs = [(int(i) // cm.shape[1], int(i) % cm.shape[1]) for i in flat]
    return [(t, p, int(cm[t, p])) for t, p in pairs if cm[t, p] > 0]


def class_section(metrics: dict, classes: list[str]) -> str:
    confusion = np.asarray(metrics.get("confusion_matrix") or np.zeros((len(classes), len(classes))), dtype=np.int64)
    if not classes:
        return P.paragraph("No classes.", "muted")
    totals = confusion.sum(axis=1)
    accuracy = metrics["per_class_accuracy"]
    order = sorted(range(len(classes)), key=lambda c: (accuracy[classes[c]] is None,
                                                       accuracy[classes[c]] or 0.0, c))
    rows = [P.row([P.cell(classes[c]), P.percent(accuracy[classes[c]]), P.number(int(totals[c]), "{:d}"),
                   P.number(int(confusion[c, c]), "{:d}")], P.data_attr("class", classes[c])) for c in order]
    parts = [P.paragraph("Worst first; click a header to sort.", "muted"),
             P.table(["class", "accuracy %", "videos", "right"], rows, sortable=True, scroll=True,
                     attrs=' id="per-class"')]
    pairs = confused_pairs(confusion)
    if pairs:
        parts.append("<h3>Most confused pairs</h3>")
        parts.append(P.table(["true class", "predicted as", "videos", "% of the true class"],
                             [P.row([P.cell(classes[t]), P.cell(classes[p]), P.number(n, "{:d}"),
                                     P.percent(n / totals[t])], P.data_attr("pair", f"{t},{p}"))
                              for t, p, n in pairs], attrs=' id="confused"'))
    parts.append("<h3>Confusion matrix</h3>")
    parts.append(P.image(figure_png(confusion_figure(confusion, classes, max_inches=12.0)),
                         "confusion matrix, rows = true class, normalised per row"))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------- per video
def _strip_html(frames_of, members: list[dict]) -> str:
    """The views strip of one video as an ``<img>`` with its caption (a note if it cannot be made)."""
    try:
        frames = frames_of([m["index"] for m in members])
    except Exception as exc:  # noqa: BLE001 - the page is still worth writing without this one strip
        return P.paragraph(f"views not available: {exc}", "warn")
    return P.strip_block(frames)


def video_section(metrics: dict, records: Sequence[dict], classes: list[str], frames_of, worst: int,
                  strip_budget: int) -> str:
    from zoo.evaluate.worst_videos import worst_videos

    aggregate = metrics.get("aggregate", "mean_softmax")
    parts = [f"<h3>The {worst} worst-scored videos</h3>",
             P.paragraph("Ranked by the share of the true class in the video's aggregated score; each with its top-5 "
                         "classes (aggregated scores) and one frame of every view the model received (clips left "
                         "to right, crops top to bottom, before normalisation).", "muted")]
    used = 0
    chosen = worst_videos(records, aggregate, worst) if classes else []
    if not chosen:
        parts.append(P.paragraph("No labelled video was evaluated.", "muted"))
    for video in chosen:
        scores = np.asarray(video["scores"], dtype=np.float64)
        top = np.argsort(-scores, kind="stable")[:5]
        items = "".join(f'<li{TRUTH if c == video["label"] else ""}{P.data_attr("class", classes[c])} '
                        f'data-value="{float(scores[c])!r}">{P.esc(classes[c])} {scores[c]:.4f}</li>' for c in top)
        body = [f'<h3>{P.esc(video["path"])}</h3>',
                f'<p>true class <b>{P.esc(classes[video["label"]])}</b>, its share '
                f'<span data-value="{video["true_share"]!r}">{100 * video["true_share"]:.2f}%</span></p>',
                f'<ol class="top">{items}</ol>']
        body += [P.paragraph(f"warning: {w}", "warn") for w in video["warnings"]]
        if frames_of is not None:
            strip = _strip_html(frames_of, video["members"])
            if used and used + len(strip) > strip_budget:
                strip = P.paragraph("views strip left out: it would take the page over its budget for strips "
                                    f"({strip_budget / 2**20:.0f} MiB)", "muted")
            used += len(strip)
            body.append(strip)
        parts.append(f'<div class="video"{P.data_attr("video", video["video_id"])}>' + "".join(body) + "</div>")
    for title, key, ident in (("Refused videos", "skipped", "refused"),
                              ("Videos scored wrong without a view (the protocol's short-video rule)", "scored_wrong",
                               "scored-wrong")):
        listed = metrics.get(key) or []
        if not listed and key != "skipped":
            continue
        parts.append(f"<h3>{P.esc(title)} ({len(listed)})</h3>")
        if not listed:
            parts.append(P.paragraph("None.", "muted"))
            continue
        rows = [P.row([P.cell(r["path"]), P.cell(r["reason"])], P.data_attr(ident, r["path"]))
                for r in listed[:MAX_REFUSED]]
        parts.append(P.table(["video", "reason"], rows, scroll=True, attrs=f' id="{ident}"'))
        if len(listed) > MAX_REFUSED:
            parts.append(P.paragraph(f"... and {len(listed) - MAX_REFUSED} more, all listed in metrics.json.",
                                     "muted"))
    return "\n".join(parts)


