"""Checkpoints of a training run: model files for the other tools, and a resumable training state.

Files in the output directory (every write atomic through :mod:`zoo._io`):

* ``last.pt`` — the training state: model weights, optimizer, scheduler, GradScaler, epoch, step inside the
  epoch, global step, sampler position, best metric, the RNG states of every rank (torch, numpy, python,
  cuda) and the run's arguments. Only tensors, dicts, lists and primitives, so it loads with
  ``torch.load(weights_only=True)``. Written at the end of every epoch and every ``--checkpoint-every-steps``.
* ``last.safetensors``, ``epoch_NNN.safetensors``, ``best.safetensors`` — zoo checkpoints written with
  :func:`zoo.save_checkpoint` (architecture, options and data protocol in the metadata), loadable by
  ``zoo-test``, ``zoo-convert`` and ``zoo-predict``.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from zoo._io import atomic_path, remove_stale_temps
from zoo.checkpoint import save_checkpoint

STATE_FILE = "last.pt"
LAST_MODEL = "last.safetensors"
BEST_MODEL = "best.safetensors"
TEST_METRICS = "test_metrics.json"


def epoch_model_name(epoch: int) -> str:
    """File name of the model saved at the end of ``epoch`` (0-based)."""
    return f"epoch_{epoch:03d}.safetensors"


def capture_rng_state() -> dict:
    """This process's RNG states as weights_only-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


def save_training_state(path: str | Path, state: dict) -> Path:
    """Atomically ``torch.save`` a training-state dict (see the module docstring for its keys)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_training_state(path: str | Path) -> dict:
    """Load a state written by :func:`save_training_state` without unrestricted unpickling."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign or damaged file: say which one
        raise RuntimeError(f"{path}: not a zoo-train training state ({exc})") from exc


def save_model(model: torch.nn.Module, path: str | Path, meta: dict) -> Path:
    """Write ``model`` as a zoo safetensors checkpoint with ``meta`` (protocol, classes, provenance...)."""

    save_checkpoint(model, path, **meta)
    return Path(path)


def find_resume_state(output_dir: str | Path | None, resume: str | None) -> Path | None:
    """The training state to resume from: ``resume`` if it is a path, ``OUTPUT_DIR/last.pt`` when ``auto``."""
    if not resume:
        return None
    if resume != "auto":
        path = Path(resume)
        if path.is_dir():
            path = path / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"--resume {resume}: no training state at {path}")
        return path
    if output_dir is None:
        return None
    path = Path(output_dir) / STATE_FILE
    return path if path.is_file() else None


def output_files(epochs: int) -> list[str]:
    """Every file name zoo-train writes into its output folder (models of epochs ``0..max(epochs, 1000)-1``)."""
    from zoo.train.logs import CSV_LOG, JSONL_LOG, PLOT_FILE

    return [STATE_FILE, LAST_MODEL, BEST_MODEL, JSONL_LOG, CSV_LOG, PLOT_FILE, TEST_METRICS,
            *(epoch_model_name(e) for e in range(max(epochs, 1000)))]


def remove_stale_temp_files(output_dir: str | Path, epochs: int) -> list[Path]:
    """Delete the temporary files (``.NAME.xxxxxxxx`` from :func:`zoo._io.atomic_path`) of zoo-train's own
    outputs that a killed run left behind; call it while holding the folder's lock (:func:`zoo.guards.output_lock`),
    so no live writer owns them. Other files, whatever their names, are never touched."""
    return remove_stale_temps(output_dir, 0, output_files(epochs))


def check_same_run(state: dict, state_path: str | Path, *, arch: str, options: dict, data_path: str | None,
                   train_split: str | None, output_dir: str | Path) -> None:
    """``UsageError`` unless the training state ``state`` belongs to this run: the same architecture, the
    ``--model-option`` values given now, the same dataset folder and training split. Resuming (or restarting
    over) another model's or another dataset's run would mix or destroy its checkpoints."""
    from zoo.errors import UsageError

    config = state.get("model_config") or {}
    previous = state.get("args") or {}
    changed = []
    if config.get("arch") != arch:
        changed.append(f"model {config.get('arch')} there, {arch} now")
    for key, value in options.items():
        if (config.get("options") or {}).get(key) != value:
            changed.append(f"model option {key}={(config.get('options') or {}).get(key)!r} there, {value!r} now")
    before = state.get("data_root", previous.get("data_path"))   # resolved when the state was written
    if (before is None) != (data_path is None) or (
            before is not None and os.path.realpath(before) != os.path.realpath(data_path)):
        changed.append(f"--data-path {previous.get('data_path')} there, {data_path} now")
    if previous.get("train_split") != train_split:
        changed.append(f"training split {previous.get('train_split')!r} there, {train_split!r} now")
    if changed:
        raise UsageError(f"--output-dir {output_dir}: {state_path} is another run (" + "; ".join(changed)
                         + "); choose another --output-dir, or run the same command as that run to resume it")
