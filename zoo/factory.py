"""``create_model``: build a model, optionally with pretrained or saved weights, and the checkpoint a tool's
``--checkpoint FILE`` / ``--weights NAME`` names (a weights name goes through the hub, so this module sits above
it)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from torch import nn

from zoo import checkpoint
from zoo.checkpoint import check_checkpoint, load_weights, read_state_dict
from zoo.guards import require_file
from zoo.hub.lookup import get_weights
from zoo.hub.hf_repo import is_hf_name
from zoo.models.registry import build_model, resolve_name
from zoo.records import WeightsEntry

log = logging.getLogger(__name__)


def _checkpoint_for(weights: str | os.PathLike) -> Path:
    """A local checkpoint path for ``weights``: an existing file, or a registry or ``hf-hub:`` name fetched
    through the hub."""
    if os.path.exists(weights):
        return Path(weights)
    if isinstance(weights, str) and not weights.endswith(".safetensors"):
        from zoo.hub import fetch_checkpoint   # imported lazily: only weight names need the hub
        return Path(fetch_checkpoint(weights))
    raise FileNotFoundError(f"{weights}: no such checkpoint file")


def checkpoint_source(checkpoint: str | None, weights: str | None) -> tuple[Path, WeightsEntry | None]:
    """The checkpoint file (fetched and cached for ``--weights``) and the weights entry, if any."""
    if (checkpoint is None) == (weights is None):
        raise ValueError("give exactly one of --checkpoint FILE or --weights NAME")
    if weights is not None:
        from zoo.hub.fetch import fetch_checkpoint   # imported lazily: only weight names need the hub

        entry = get_weights(weights)   # a registry, registered or hf-hub: name
        return Path(fetch_checkpoint(weights)), entry
    return require_file(checkpoint, "zoo checkpoint file (.safetensors)"), None


def create_model(name: str, num_classes: int | None = None, weights: str | os.PathLike | None = None,
                 new_head: bool = False, **options) -> nn.Module:
    """Build ``name`` (see :func:`zoo.list_models`), or the model of an ``hf-hub:ORG/REPO[@REVISION]`` name.

    ``weights`` is a registry name from ``weights.json`` (downloaded, verified and converted on first use),
    an ``hf-hub:`` name (a repo written by ``zoo-hub push``, through huggingface_hub's cache) or a path to a
    zoo checkpoint. Options stored with the weights apply unless overridden. When
    ``num_classes`` differs from the weights' head, or ``new_head`` is set, the backbone is loaded and a fresh
    ``fc`` head is created (fine-tuning).
    """
    if is_hf_name(name):   # timm's spelling: the repo names both the model and its weights
        if weights is not None and weights != name:
            raise ValueError(f"create_model({name!r}) takes its weights from the repo; give no weights={weights!r}")
        weights, name = name, get_weights(name).arch
    resolve_name(name)
    if weights is None:
        return build_model(name, 400 if num_classes is None else num_classes, **options)
    path = _checkpoint_for(weights)
    meta = check_checkpoint(path)     # the file's metadata against its tensors, before building anything
    if meta["arch"] != name:
        raise ValueError(f"weights {weights!r} are for {meta['arch']!r}, not {name!r}")
    merged = {**meta.get("options", {}), **options}
    classes = meta["num_classes"] if num_classes is None else num_classes
    model = build_model(name, classes, **merged)
    new_head = new_head or classes != meta["num_classes"]
    state = read_state_dict(path)
    if new_head:
        log.warning("%s: replacing the %d-class head with a new %d-class head", weights, meta["num_classes"], classes)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    load_weights(model, state, source=str(path), skip=("fc.",) if new_head else ())
    model.zoo_meta = {k: v for k, v in meta.items() if not (new_head and k in ("classes", "label_set"))}
    model.zoo_meta.update(num_classes=classes, options=model.zoo_config["options"])
    if new_head:
        model.zoo_meta.setdefault("provenance", {})["finetuned_from"] = str(weights)
    return model.eval()


def load_checkpoint(source: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """The model stored in ``source`` (eval mode, metadata on ``model.zoo_meta``): a zoo checkpoint file, a
    registry weights name or an ``hf-hub:ORG/REPO[@REVISION]`` name (see :func:`zoo.checkpoint.load_checkpoint`)."""
    return checkpoint.load_checkpoint(_checkpoint_for(source), device=device)
