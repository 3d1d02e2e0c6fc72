"""Training logs: a tqdm progress bar, per-epoch CSV/JSONL logs, TensorBoard (when installed), a PNG of curves.

Only the main process writes. The per-epoch log is rewritten atomically after every epoch from the full
history, and a resumed run reloads the history from ``log.jsonl`` (dropping epochs at or after the one it
restarts), so the files and the plot always describe one consistent run.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

from zoo.progress import progress_bar

from zoo._io import atomic_path, atomic_write_text

JSONL_LOG = "log.jsonl"
CSV_LOG = "log.csv"
PLOT_FILE = "curves.png"


class ProgressBar:
    """tqdm bar over the optimizer steps of an epoch showing clips/s, loss and lr (tqdm adds the ETA)."""

    def __init__(self, total: int, initial: int, epoch: int, epochs: int, enabled: bool = True):
        self._bar = progress_bar(total=total, initial=initial, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
                                 enabled=enabled, mininterval=1.0, leave=True)
        self._clips, self._t0 = 0, time.perf_counter()
        self._loss: float | None = None

    def update(self, clips: int, loss: float | None, lr: float, data_wait: float | None = None) -> None:
        """One step done; ``loss`` is the latest loss read from the device (``None``: keep the one shown)."""
        self._clips += clips
        self._loss = self._loss if loss is None else loss
        rate = self._clips / max(time.perf_counter() - self._t0, 1e-9)
        postfix = {"clips/s": f"{rate:.1f}", "loss": "-" if self._loss is None else f"{self._loss:.4f}",
                   "lr": f"{lr:.3g}"}
        if data_wait is not None:
            postfix["data"] = f"{100 * data_wait:.0f}%"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


class EpochLog:
    """History of per-epoch metrics mirrored to ``log.jsonl``, ``log.csv``, TensorBoard and ``curves.png``."""

    def __init__(self, output_dir: str | Path | None, start_epoch: int = 0, tensorboard: bool = True):
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.rows: list[dict] = []
        self._tb = None
        if self.output_dir is None:
            return
        jsonl = self.output_dir / JSONL_LOG
        if jsonl.is_file():
            rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
            self.rows = [r for r in rows if r.get("epoch", -1) < start_epoch]
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(log_dir=str(self.output_dir / "tensorboard"), purge_step=start_epoch)

    def append(self, row: dict) -> None:
        """Record one epoch's metrics (``row["epoch"]`` is 0-based) and refresh every output."""
        self.rows.append(row)
        if self.output_dir is None:
            return
        atomic_write_text(self.output_dir / JSONL_LOG, "".join(json.dumps(r) + "\n" for r in self.rows))
        atomic_write_text(self.output_dir / CSV_LOG, rows_to_csv(self.rows))
        if self._tb is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)) and value is not None:
                    self._tb.add_scalar(key.replace("_", "/", 1), value, row["epoch"])
            self._tb.flush()
        plot_curves(self.rows, self.output_dir / PLOT_FILE)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def rows_to_csv(rows: list[dict]) -> str:
    """CSV text with the union of the rows' keys as columns (first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def plot_curves(rows: list[dict], path: str | Path) -> Path:
    """PNG with the loss curves (left) and the accuracy curves (right) against the epoch number."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [r["epoch"] + 1 for r in rows]
    for ax, keys, title in ((loss_ax, ("train_loss", "val_loss"), "loss"),
                            (acc_ax, ("train_clip_acc1", "val_clip_acc1", "val_video_acc1"), "accuracy")):
        for key in keys:
            points = [(e, r[key]) for e, r in zip(epochs, rows) if _finite(r.get(key))]
            if points:
                ax.plot(*zip(*points), marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
