"""``folds_report.html`` of ``zoo-test --folds``: the summary over cross-validation folds as a self-contained
page (the mean and spread of each metric, every fold's numbers and where they came from, a chart)."""
from __future__ import annotations

import os
from pathlib import Path

from zoo.evaluate.folds import METRICS
from zoo.report import page as P
from zoo.report.images import figure_png

FOLDS_REPORT_FILE = "folds_report.html"


def _fold_name(fold: dict) -> str:
    return " ".join(filter(None, (str(Path(fold["path"]).parent), fold.get("split") and f"[{fold['split']}]")))


def folds_chart(summary: dict) -> bytes:
    """Bars of each fold's metrics with the mean of each as a dashed line (percentages)."""
    from matplotlib.figure import Figure

    keys = [k for k in METRICS if k in summary]
    folds = summary["folds"]
    fig = Figure(figsize=(max(5.0, 1.2 * len(folds) * len(keys) / 2 + 2), 3.4))
    ax = fig.add_subplot()
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        xs = [i + (j - (len(keys) - 1) / 2) * width for i in range(len(folds))]
        bars = ax.bar(xs, [100 * f[key] for f in folds], width, label=key.replace("_", " "))
        ax.axhline(100 * summary[key]["mean"], color=bars.patches[0].get_facecolor(), linestyle="--", linewidth=1)
    ax.set_xticks(range(len(folds)), labels=[f"fold {i + 1}" for i in range(len(folds))])
    ax.set_ylabel("%")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


def folds_page(summary: dict) -> str:
    """The HTML text of the summary (:func:`zoo.evaluate.folds.summarize_folds`)."""
    keys = [k for k in METRICS if k in summary]
    rows = [P.row([P.cell(key.replace("_", " ") + " %"), P.percent(summary[key]["mean"]), P.percent(summary[key]["std"]),
                   P.percent(summary[key]["min"]), P.percent(summary[key]["max"])], P.data_attr("metric", key))
            for key in keys]
    parts = [P.table(["metric", "mean", "std", "min", "max"], rows, attrs=' id="folds-summary"'),
             P.paragraph(f"Over {summary['num_folds']} folds; std is the {summary['std']}.", "muted")]
    parts += [P.paragraph(f"warning: {w}", "bad") for w in summary.get("warnings", [])]
    fold_rows = [P.row([P.cell(i + 1, i + 1, numeric=True), P.cell(_fold_name(f)), P.cell(f.get("data_path")),
                        P.cell(f.get("checkpoint") and os.path.basename(f["checkpoint"])),
                        P.number(f.get("num_videos"), "{:d}")] + [P.percent(f[k]) for k in keys],
                       P.data_attr("fold", f["path"]))
                 for i, f in enumerate(summary["folds"])]
    folds = P.table(["fold", "run", "data", "checkpoint", "videos"] + [k.replace("_", " ") + " %" for k in keys],
                    fold_rows, sortable=True, attrs=' id="fold-table"')
    sections = [P.Section("summary", "Summary", "\n".join(parts)),
                P.Section("folds", "Folds", folds + P.image(folds_chart(summary), "metrics per fold"))]
    return P.render("zoo-test summary over folds", P.esc(f"{summary['num_folds']} folds"), sections)


def write_folds_page(path: str | os.PathLike, summary: dict) -> Path:
    """Write the summary page to ``path`` (atomic)."""
    return P.write_page(path, folds_page(summary))
