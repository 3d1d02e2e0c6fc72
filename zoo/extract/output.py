"""Feature files: one per video, under a folder layout that mirrors the input, written atomically and verified
before a re-run skips them; and the run's index (``index.jsonl`` / ``index.csv``).

``.safetensors`` (default): one file ``STEM.safetensors`` holding a tensor per layer plus ``window_start`` and
``window_end`` (float64 seconds), with the description (video, label, layers and shapes, windows, protocol,
checkpoint SHA-256, settings digest) as JSON under the metadata key ``zoo_extract``. ``.npy``: one array per
layer ``STEM.LAYER.npy`` and the description, with the window times, in ``STEM.json``, written last (a video
is done when its ``.json`` is there and every array it names has the shape it says).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from zoo._io import STALE_TEMP_SECONDS, atomic_path, atomic_write_text, remove_stale_temps
from zoo.extract.windows_dataset import VideoJob
from zoo.guards import unique_outputs
from zoo.extract.engine import VideoFeatures
from zoo.extract.options import FORMATS

META_KEY = "zoo_extract"
INDEX_JSONL, INDEX_CSV = "index.jsonl", "index.csv"
INDEX_COLUMNS = ("index", "video", "video_id", "label", "file", "windows", "shape", "status", "reason")


def settings_digest(settings: dict) -> str:
    """A short hash identifying a run's settings (stored in every file; a file of other settings is redone)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def output_stems(jobs: Sequence[VideoJob]) -> dict[int, str]:
    """Relative output path (without suffix) per job: the video's path below the videos' common folder, minus
    its extension, which is kept wherever two videos would otherwise share a name (``a.mp4`` and ``a.avi``;
    ``a.mp4`` and ``a.mp4.mp4``): distinct videos get distinct stems."""
    if not jobs:
        return {}
    paths = {job.index: Path(job.path).resolve() for job in jobs}
    root = Path(os.path.commonpath([str(p.parent) for p in paths.values()]))
    rel = {i: p.relative_to(root) for i, p in paths.items()}
    stems = {i: r.with_suffix("").as_posix() for i, r in rel.items()}
    kept: set[int] = set()
    while True:   # full names are unique, so this ends: each round keeps the extension of at least one more
        counts = Counter(stems.values())
        clash = [i for i, stem in stems.items() if counts[stem] > 1 and i not in kept]
        if not clash:
            return stems
        for i in clash:
            stems[i] = rel[i].as_posix()
            kept.add(i)


def check_output_folder(output: Path, jobs: Sequence[VideoJob]) -> None:
    """The output folder must not hold any input video (no tool writes where its inputs are)."""
    out = output.resolve()
    for job in jobs:
        if out in Path(job.path).resolve().parents:
            raise ValueError(f"--output {output} contains the input video {job.path}: choose a folder outside the "
                             "data")


class FeatureWriter:
    """Writes and verifies the feature files of one run in ``root``."""

    def __init__(self, root: str | os.PathLike, fmt: str, settings: dict):
        if fmt not in FORMATS:
            raise ValueError(f"feature format must be one of {FORMATS}, got {fmt!r}")
        self.root, self.fmt, self.settings = Path(root), fmt, settings
        self.digest = settings_digest(settings)

    def main_file(self, stem: str) -> Path:
        """The file whose presence marks a video as done."""
        return self.root / (stem + (".safetensors" if self.fmt == ".safetensors" else ".json"))

    def files(self, stem: str, layers: Iterable[str]) -> list[Path]:
        if self.fmt == ".safetensors":
            return [self.main_file(stem)]
        return [self.root / f"{stem}.{layer}.npy" for layer in layers] + [self.main_file(stem)]

    def _meta(self, result: VideoFeatures) -> dict:
        job = result.job
        return {"video": job.path, "video_id": job.video_id, "label": job.label, "windows": result.num_windows,
                "layers": {k: list(v.shape) for k, v in result.features.items()}, "digest": self.digest,
                "settings": self.settings}

    def write(self, result: VideoFeatures, stem: str) -> dict:
        """Write one video's features atomically; returns its index record."""
        if result.error is not None:
            return record(result.job, None, status="skipped", reason=result.error)
        meta = self._meta(result)
        target = self.main_file(stem)
        if self.fmt == ".safetensors":
            from safetensors.numpy import save_file

            tensors = dict(result.features, window_start=result.start, window_end=result.end)
            with atomic_path(target) as tmp:
                save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
        else:
            for layer, array in result.features.items():
                with atomic_path(self.root / f"{stem}.{layer}.npy") as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, array, allow_pickle=False)
            meta.update(window_start=result.start.tolist(), window_end=result.end.tolist())
            atomic_write_text(target, json.dumps(meta) + "\n")
        return record(result.job, target.relative_to(self.root).as_posix(), windows=result.num_windows,
                      shape=meta["layers"])

    def verify(self, job: VideoJob, stem: str) -> dict | None:
        """The index record of a video already done with these settings, or ``None`` (missing, partial,
        unreadable or from other settings: it is extracted again)."""
        target = self.main_file(stem)
        if not target.is_file():
            return None
        try:
            if self.fmt == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(target), "numpy") as fh:
                    meta = json.loads((fh.metadata() or {})[META_KEY])
                    shapes = {k: list(fh.get_slice(k).get_shape()) for k in fh.keys()}
                times = [shapes.get("window_start"), shapes.get("window_end")]
            else:
                meta = json.loads(target.read_text(encoding="utf-8"))
                shapes = {layer: list(_npy_shape(self.root / f"{stem}.{layer}.npy")) for layer in meta["layers"]}
                times = [[len(meta["window_start"])], [len(meta["window_end"])]]
        except Exception:  # noqa: BLE001 - anything unreadable is simply done again
            return None
        if meta.get("digest") != self.digest or meta.get("video") != job.path:
            return None
        if any(shapes.get(k) != v for k, v in meta["layers"].items()) or times != [[meta["windows"]]] * 2:
            return None
        return record(job, target.relative_to(self.root).as_posix(), windows=meta["windows"], shape=meta["layers"])

    def check_unique(self, jobs: Sequence[VideoJob], stems: dict[int, str], layers: Sequence[str],
                     reserved: Sequence[str] = ()) -> None:
        """``UsageError`` when two videos, or a video and one of the run's own files (the index, ``reserved``),
        would be written to one file (checked before any work; the stems are unique, the files may still not be:
        ``a.mp4.mp4`` and ``a.mp4``, a video named ``run``)."""
        own = [(self.root / name, f"the run's {name}") for name in (INDEX_JSONL, INDEX_CSV, *reserved)]
        unique_outputs(own + [(path, job.path) for job in jobs for path in self.files(stems[job.index], layers)])

    def remove_stale_temporaries(self, stems: Iterable[str], layers: Sequence[str]) -> int:
        """Delete temporary files a killed run left beside these videos' outputs (only those unchanged for
        :data:`~zoo._io.STALE_TEMP_SECONDS`: a live run may be writing the others); returns how many."""
        by_dir: dict[Path, set[str]] = {}
        for stem in stems:
            for path in self.files(stem, layers):
                by_dir.setdefault(path.parent, set()).add(path.name)
        return sum(len(remove_stale_temps(folder, STALE_TEMP_SECONDS, names)) for folder, names in by_dir.items())


def _npy_shape(path: Path) -> tuple[int, ...]:
    return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)   # header read; size checked by mmap


def record(job: VideoJob, file: str | None, *, windows: int = 0, shape: dict | None = None, status: str = "ok",
           reason: str | None = None) -> dict:
    """One row of the index."""
    return {"index": job.index, "video": job.path, "video_id": job.video_id, "label": job.label, "file": file,
            "windows": windows, "shape": shape or {}, "status": status, "reason": reason}


def write_index(root: str | os.PathLike, records: Iterable[dict]) -> None:
    """``index.jsonl`` and ``index.csv`` of all videos (sorted by input order), atomically."""
    root = Path(root)
    rows = sorted(records, key=lambda r: r["index"])
    atomic_write_text(root / INDEX_JSONL, "".join(json.dumps(r) + "\n" for r in rows))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for r in rows:
        shape = ";".join(f"{k}={'x'.join(map(str, v))}" for k, v in r["shape"].items())
        writer.writerow([r["index"], r["video"], r["video_id"], r["label"], r["file"] or "", r["windows"], shape,
                         r["status"], r["reason"] or ""])
    atomic_write_text(root / INDEX_CSV, buffer.getvalue())
