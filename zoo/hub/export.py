"""Hub-ready folders (``model.safetensors``, ``config.json``, README model card) and pushing them.

``config.json`` is what ``hf-hub:`` names are built from (:mod:`zoo.hub.hf_repo`): architecture, options, head,
preprocessing, metrics and the test protocol record. With the results of a ``zoo-test`` run
(:mod:`zoo.hub.measured`) the card's front matter carries a ``model-index`` block the Hub shows as evaluation
results, and the protocol record is the run's own.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from zoo._io import atomic_path, atomic_write_text
from zoo.hub.lookup import get_weights
from zoo.protocol.records import resolve_protocol
from zoo.hub.measured import MeasuredRun, read_run
from zoo.records import Preprocessing, WeightsEntry

_CLASS_FIELDS = ("classes", "label_set")   # in config.json next to, not inside, "preprocessing"


def _weights_entry(weights_name: str | None) -> WeightsEntry | None:
    if not weights_name:
        return None
    try:
        return get_weights(weights_name)
    except KeyError:
        return None


def _protocol_text(protocol: str | None, config: dict | None = None) -> str:
    """Description of a protocol id: config.json's own protocol record, else the registry's (else the id)."""
    if not protocol:
        return "not stated"
    record = (config or {}).get("protocol") or {}
    if record.get("name") == protocol and record.get("description"):
        return record["description"]
    try:
        from zoo.weights import load_registry

        return load_registry().get("protocols", {}).get(protocol, {}).get("description") or protocol
    except Exception:  # noqa: BLE001 - a card is still useful without the registry
        return protocol


def _registry_protocol(entry: dict) -> dict | None:
    """The record of the protocol behind the entry's published numbers (None without any)."""
    if not entry.get("metrics"):
        return None
    try:
        return resolve_protocol(entry).to_dict()
    except (KeyError, ValueError):   # a registered entry naming a protocol the registry does not have
        return None


def build_config(meta: dict, entry: dict | None = None, weights_name: str | None = None,
                 measured: MeasuredRun | None = None) -> dict:
    """``config.json`` contents: architecture, builder options, head, preprocessing, metrics, the test protocol
    record (``measured``'s, else the registry's protocol of the published numbers) and provenance."""
    entry = entry or {}
    known = WeightsEntry.from_dict(entry, weights_name or "<entry>").preprocessing if entry else Preprocessing()
    prep = known.updated(Preprocessing.from_dict(meta, "checkpoint metadata"))
    if measured is not None and measured.clip_len:   # the clip the measured numbers were made with
        prep = prep.updated(Preprocessing(clip_len=measured.clip_len))
    values = prep.to_dict()
    return {
        "library_name": "video-model-zoo",
        "architecture": meta["arch"],
        "num_classes": meta["num_classes"],
        "options": meta.get("options", {}),
        "preprocessing": {key: values.get(key) for key in Preprocessing.keys() if key not in _CLASS_FIELDS},
        "label_set": prep.label_set,
        "classes": values.get("classes"),
        "weights_name": weights_name,
        "pretrain": entry.get("pretrain"),
        "finetune": entry.get("finetune"),
        "metrics": (measured.registry_metrics() if measured is not None else []) + list(entry.get("metrics", [])),
        "protocol": measured.protocol if measured is not None else _registry_protocol(entry),
        "provenance": meta.get("provenance"),
    }


def card_metadata(title: str, measured: MeasuredRun | None = None) -> str:
    """The card's YAML front matter (huggingface_hub's ``ModelCardData``), with a ``model-index`` block of
    ``measured``'s results when given."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(library_name="video-model-zoo", pipeline_tag="video-classification",
                         tags=["video-classification", "pytorch", "safetensors", "vmz"],
                         model_name=title if measured is not None else None,
                         eval_results=measured.eval_results() if measured is not None else None)
    return data.to_yaml()


def model_card(config: dict, entry: dict | None = None, measured: MeasuredRun | None = None,
               repo_id: str | None = None) -> str:
    """A README.md model card: front matter (with the ``model-index`` of ``measured``), usage by ``hf-hub:``
    name, input, metrics with their protocol, provenance."""
    entry = entry or {}
    arch, pre = config["architecture"], config["preprocessing"]
    title = config.get("weights_name") or repo_id or arch
    name = f"hf-hub:{repo_id or 'ORG/REPO'}"
    lines = ["---", card_metadata(title, measured).rstrip("\n"), "---", "",
             f"# {title}", "",
             f"`{arch}` video classifier ({config['num_classes']} classes"
             + (f", {config['label_set']}" if config.get("label_set") else "") + ")"
             + (f", pretrained on {entry['pretrain']}" if entry.get("pretrain") else "")
             + (f", fine-tuned on {entry['finetune']}" if entry.get("finetune") else "") + ".", ""]
    if entry.get("paper"):
        lines += [f"Paper: {entry['paper']}", ""]
    lines += ["## Usage", "",
              "With video-model-zoo installed the repo is a weights name: huggingface_hub downloads it into its "
              "cache (and finds it there with `HF_HUB_OFFLINE=1`); `config.json` builds the model and holds the "
              "test protocol below.", "",
              "```python", "import zoo", "", f'model = zoo.create_model("{name}")', "```", "",
              "```bash", f"zoo-test --weights {name} --data-path DATA   # the test protocol below",
              f"zoo-train --weights {name} --data-path DATA --new-head   # fine-tune", "```", "",
              "## Input", "", "| Field | Value |", "|---|---|"]
    lines += [f"| {key} | {json.dumps(value)} |" for key, value in pre.items() if value is not None]
    lines += ["", "Input: float tensor (N, 3, T, H, W), RGB, pixels scaled to 0-1 then normalised with mean/std.", ""]
    lines += ["## Metrics", ""]
    if config["metrics"]:
        lines += ["| Dataset | Split | Top-1 | Top-5 | Level | Protocol |", "|---|---|---|---|---|---|"]
        for m in config["metrics"]:
            lines.append(f"| {m.get('dataset')} | {m.get('split')} | {m.get('top1')} | {m.get('top5')} | "
                         f"{m.get('level', '')} | {_protocol_text(m.get('protocol'), config)} |")
        sources = sorted({m["source"] for m in config["metrics"] if m.get("source")})
        if sources:
            lines += ["", "Reported by: " + "; ".join(sources) + "."]
    else:
        lines.append("No reported metrics.")
    lines += ["", "## Provenance", "", "```json", json.dumps(config.get("provenance"), indent=2, sort_keys=True),
              "```", ""]
    if entry.get("notes"):
        lines += ["## Notes", "", entry["notes"], ""]
    return "\n".join(lines)


#: the files of an exported folder
EXPORT_FILES = ("model.safetensors", "config.json", "README.md")


def refuse_foreign_files(out_dir: Path) -> None:
    """``UsageError`` when ``out_dir`` holds one of :data:`EXPORT_FILES` that an earlier export did not write
    (an export folder is recognised by its ``config.json``): a user's README.md or config.json is never replaced."""
    from zoo.errors import UsageError

    present = [name for name in EXPORT_FILES if (out_dir / name).exists() or (out_dir / name).is_symlink()]
    if not present:
        return
    try:
        ours = json.loads((out_dir / "config.json").read_text(encoding="utf-8")).get("library_name") \
            == "video-model-zoo"
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise UsageError(f"{out_dir}: already holds {', '.join(present)}, not written by zoo-hub export; export "
                         "into a new or empty folder (nothing was written)")


def export_checkpoint(ckpt: str | os.PathLike, out_dir: str | os.PathLike, *, weights_name: str | None = None,
                      metrics: str | os.PathLike | None = None, dataset: str | None = None,
                      repo_id: str | None = None) -> Path:
    """Write ``out_dir`` with ``model.safetensors``, ``config.json`` and ``README.md``; return ``out_dir``.

    Published metrics and their protocol come from the registry entry ``weights_name`` (default: the
    checkpoint's ``provenance.weights``). ``metrics`` is the ``metrics.json`` of a zoo-test run of this
    checkpoint: its numbers go into the card's ``model-index`` (dataset ``dataset``, default the checkpoint's
    label set) and its protocol into ``config.json``. ``repo_id`` names the repo in the card's usage section.
    """
    from zoo.checkpoint import check_checkpoint
    from zoo.guards import refuse_same_file

    ckpt, out_dir = Path(ckpt), Path(out_dir)
    inputs = [ckpt] + ([Path(metrics)] if metrics else [])
    for target in (out_dir, *(out_dir / name for name in EXPORT_FILES)):
        refuse_same_file(target, inputs)
    refuse_foreign_files(out_dir)
    meta = check_checkpoint(ckpt)  # a zoo checkpoint whose tensors fit its metadata, or a clear error
    provenance = meta.get("provenance") or {}
    # checkpoints written before provenance had two fields kept the registry name under "source"
    entry = _weights_entry(weights_name or provenance.get("weights") or provenance.get("source"))
    weights_name = weights_name or (entry or {}).get("name")
    measured = None if metrics is None else read_run(metrics, ckpt, dataset, meta.get("label_set"))
    config = build_config(meta, entry, weights_name, measured)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.safetensors") as tmp:
        shutil.copyfile(ckpt, tmp)
    atomic_write_text(out_dir / "config.json", json.dumps(config, indent=2) + "\n")
    atomic_write_text(out_dir / "README.md", model_card(config, entry, measured, repo_id))
    return out_dir


def push_checkpoint(ckpt: str | os.PathLike, repo_id: str, *, weights_name: str | None = None,
                    token: str | None = None, private: bool = False, revision: str | None = None,
                    commit_message: str | None = None, metrics: str | os.PathLike | None = None,
                    dataset: str | None = None) -> str:
    """Export ``ckpt`` (see :func:`export_checkpoint`) and upload the folder to Hugging Face model repo
    ``repo_id``; return the commit URL."""
    from huggingface_hub import HfApi

    from zoo.hub.errors import HubError
    from zoo.hub.hf import hf_endpoint

    api = HfApi(endpoint=hf_endpoint(), token=token)
    with tempfile.TemporaryDirectory(prefix="zoo-hub-push-") as folder:
        export_checkpoint(ckpt, folder, weights_name=weights_name, metrics=metrics, dataset=dataset, repo_id=repo_id)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            info = api.upload_folder(folder_path=folder, repo_id=repo_id, revision=revision,
                                     commit_message=commit_message or f"Upload {Path(ckpt).name} with zoo-hub")
        except Exception as exc:   # network, offline mode, authentication, HTTP errors: one line, not a traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise HubError(f"push to {repo_id} at {hf_endpoint()} failed ({type(exc).__name__}: {first}); check "
                           "the network, HF_HUB_OFFLINE and your token (`hf auth login` or --token)") from exc
    return str(getattr(info, "commit_url", info))
