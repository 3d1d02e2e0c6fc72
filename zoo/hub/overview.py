"""The zoo at a glance: published top-1 against GFLOPs per clip for every released weight (``docs/zoo.png``).

:func:`overview_rows` draws the numbers from ``weights.json`` (the first published video-level top-1 of each
entry, else its first top-1 at clip level) and from :func:`zoo.describe` (multiply-adds of the entry's model at
its own clip length and crop, VMZ's "GFLOPs"), so the picture cannot drift from the registry or the builders.
:func:`write_overview` draws one panel per dataset, one marker per model family, every point labelled, and writes
the rows beside the PNG as JSON (``zoo.json`` for ``zoo.png``): the tests regenerate the rows and compare them
with that file, never the PNG's bytes. ``zoo-hub list --plot FILE`` calls it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

#: matplotlib markers, one per family in the order families first appear (sorted by name)
_MARKERS = "osD^v<>pPh*X8dH"


def _published_top1(entry: dict) -> dict | None:
    """The entry's first video-level metric with a top-1, else its first metric with one (None: no number)."""
    metrics = [m for m in entry.get("metrics") or [] if m.get("top1") is not None]
    return next((m for m in metrics if m.get("level", "video") == "video"), metrics[0] if metrics else None)


def _input(entry: dict) -> tuple[int, int, int]:
    crop = entry.get("crop_size") or 112
    return entry.get("clip_len") or 8, crop, crop


def short_label(name: str, entry: dict) -> str:
    """The weights name without its head dataset when that is the panel's (``ir_csn_152.ig65m`` for
    ``ir_csn_152.ig65m_ft_kinetics400``)."""
    head = entry.get("finetune") or entry.get("pretrain")
    return name.replace(f"_ft_{head}", "").replace(f".{head}_", ".").replace(f".{head}", "")


def describe_entry(entry: dict) -> dict:
    """Parameters and multiply-adds of the entry's model at its clip length and crop (built on 'meta')."""
    from zoo.models.describe import describe
    from zoo.models import build_meta_model

    options = entry.get("options") or {}
    model = build_meta_model(entry["arch"], entry["num_classes"], **options)
    return describe(model, (1, options.get("in_channels", 3), *_input(entry)))


def overview_rows() -> dict:
    """``{"plotted": [...], "not_plotted": [...]}``: one row per released weight (``name``, ``family``, ``arch``,
    ``dataset``, ``split``, ``level``, ``top1``, ``gflops`` per clip, ``input``, ``label``), and the weights without
    a published top-1 with the reason."""
    from zoo.hub.lookup import get_weights
    from zoo.weights import arch_family, list_weights

    macs: dict[str, int] = {}
    plotted, missing = [], []
    for name in list_weights():
        entry = get_weights(name)
        metric = _published_top1(entry)
        if metric is None:
            missing.append({"name": name, "reason": "no published top-1"})
            continue
        clip = _input(entry)
        key = json.dumps([entry["arch"], entry["num_classes"], entry.get("options") or {}, clip], sort_keys=True)
        if key not in macs:
            macs[key] = describe_entry(entry)["macs"]
        plotted.append({"name": name, "family": arch_family(entry["arch"]), "arch": entry["arch"],
                        "dataset": metric["dataset"], "split": metric.get("split"),
                        "level": metric.get("level", "video"), "top1": metric["top1"],
                        "gflops": round(macs[key] / 1e9, 2), "input": "x".join(map(str, clip)),
                        "label": short_label(name, entry)})
    return {"plotted": plotted, "not_plotted": missing}


def data_path(png: str | os.PathLike) -> Path:
    """Where the rows behind ``png`` are written: the same name with ``.json``."""
    return Path(png).with_suffix(".json")


def write_overview(png: str | os.PathLike, rows: dict | None = None) -> Path:
    """Draw ``rows`` (default :func:`overview_rows`) into ``png`` and write the rows beside it; return ``png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo._io import atomic_path, atomic_write_text

    rows = overview_rows() if rows is None else rows
    points = rows["plotted"]
    datasets = sorted({p["dataset"] for p in points}, key=lambda d: -sum(p["dataset"] == d for p in points))
    families = sorted({p["family"] for p in points})
    marker = {f: _MARKERS[i % len(_MARKERS)] for i, f in enumerate(families)}
    color = {f: plt.get_cmap("tab20")(i % 20) for i, f in enumerate(families)}
    counts = [sum(p["dataset"] == d for p in points) for d in datasets]
    fig, axes = plt.subplots(1, len(datasets), figsize=(15, 9), squeeze=False,
                             gridspec_kw={"width_ratios": [max(c, 4) for c in counts]})
    for ax, dataset in zip(axes[0], datasets):
        mine = sorted((p for p in points if p["dataset"] == dataset), key=lambda p: (p["gflops"], p["top1"]))
        for family in families:
            group = [p for p in mine if p["family"] == family]
            if group:
                ax.scatter([p["gflops"] for p in group], [p["top1"] for p in group], marker=marker[family],
                           color=color[family], s=42, label=family, edgecolors="black", linewidths=0.4, zorder=3)
        for i, p in enumerate(mine):
            ax.annotate(p["label"] + (" (clip)" if p["level"] == "clip" else ""), (p["gflops"], p["top1"]),
                        xytext=(4, 5 if i % 2 else -9), textcoords="offset points", fontsize=5.5, zorder=4)
        ax.set_xscale("log")
        ax.set_title(f"{dataset} ({mine[0]['split']})" if mine[0].get("split") else dataset)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("published top-1 (%), video level unless marked (clip)")
    fig.supxlabel("GFLOPs per clip (multiply-adds at the weights' own clip length and crop, log scale)", y=0.09)
    handles = {f: h for ax in axes[0] for h, f in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 9), fontsize=8,
               title="family")
    fig.suptitle(f"video-model-zoo: {len(points)} released weights with a published top-1"
                 + (f" ({len(rows['not_plotted'])} without one are not shown)" if rows["not_plotted"] else ""))
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    atomic_write_text(data_path(png), json.dumps(rows, indent=1) + "\n")
    return png
