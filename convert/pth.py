"""``.pth`` state dicts (torchvision's video ResNets, the VMZ/ig65m ports): read safely, see them as Caffe2 blobs."""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import torch

from zoo.convert.blobmap import state_to_blobs

_WRAPPERS = ("state_dict", "model", "model_state")


def unwrap_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded ``.pth`` object: unwrapped from ``state_dict``/``model``/``model_state`` and with
    DDP's ``module.`` prefix removed; ValueError naming ``source`` if it is not a dict of tensors."""
    for key in _WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{source}: expected a state_dict (a dict of tensors)")
    prefix = "module."
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in obj.items()}


def read_pth_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict of a ``.pth`` file, loaded with ``torch.load(weights_only=True)``."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ValueError(f"{path}: not a loadable weights-only .pth file ({type(exc).__name__}: {exc})") from None
    return unwrap_state_dict(obj, str(path))


def pth_blobs(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Caffe2-named view of a VideoResNet state dict (what :func:`zoo.convert.blobmap.infer_arch` reads)."""
    ir_csn = any(k.endswith("conv2.0.weight") and v.ndim == 5 and v.shape[1] == 1 for k, v in state.items())
    num_classes = int(state["fc.weight"].shape[0]) if "fc.weight" in state else 0
    return state_to_blobs(state, "ir_csn" if ir_csn else "r3d", num_classes)


__all__ = ["pth_blobs", "read_pth_state", "unwrap_state_dict"]
