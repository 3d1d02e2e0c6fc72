"""Deterministic weights and input for the torchvision parity fixture.

Shared by ``make_torchvision_reference.py`` (run in a separate virtualenv with torchvision) and
``test_torchvision_parity.py`` (run in the project's .venv). It imports only torch, so both sides build
bit-identical weights from the parameter *names* and shapes alone; no weight file is stored.

The generators are torch's CPU Mersenne-Twister streams; the fixture records a SHA-256 of the generated
weights and input so that a change in torch's RNG is reported as such rather than as a model mismatch.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Mapping

import torch

INPUT_SHAPE = (2, 3, 8, 56, 56)
INPUT_SEED = 20190101
MODELS = ("r2plus1d_18", "r3d_18", "mc3_18")
# Stages whose spatio-temporally averaged outputs the fixture records, to localise a mismatch.
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")


def _generator(name: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(name.encode("utf-8")))


def deterministic_tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Tensor for state-dict entry ``name``, derived only from its name (seed = CRC32) and shape.

    conv weights ~ N(0, 2/fan_in) (He), Linear weight ~ N(0, 1/fan_in), BN weight 1 + 0.1n, BN/Linear bias
    0.1n, running_mean 0.1n, running_var 0.5 + U[0, 1), num_batches_tracked 0 (n ~ N(0, 1)).
    """
    shape = tuple(int(s) for s in shape)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.int64)
    gen = _generator(name)
    if leaf == "running_var":
        return 0.5 + torch.rand(shape, generator=gen)
    noise = torch.randn(shape, generator=gen)
    if leaf == "running_mean" or leaf == "bias":
        return 0.1 * noise
    if leaf == "weight" and len(shape) == 1:  # BatchNorm scale
        return 1.0 + 0.1 * noise
    if leaf == "weight" and len(shape) >= 2:  # Conv (He) or Linear (LeCun) weight
        fan_in = math.prod(shape[1:])
        gain = 2.0 if len(shape) > 2 else 1.0
        return noise * math.sqrt(gain / fan_in)
    raise ValueError(f"deterministic_tensor: no rule for state-dict entry {name!r} with shape {shape}")


def deterministic_state_dict(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """State dict (same key order as ``shapes``) whose every tensor is derived from its name and shape."""
    return {name: deterministic_tensor(name, shape) for name, shape in shapes.items()}


def reference_input() -> torch.Tensor:
    """The fixed float32 clip batch (N, 3, T, H, W) fed to every model in the fixture."""
    return torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(INPUT_SEED))


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and raw bytes, in mapping order."""
    h = hashlib.sha256()
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def stage_means(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model(x)`` and return (logits, {stage: output averaged over T, H, W -> (N, C)})."""
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(model, stage).register_forward_hook(
            lambda _m, _i, out, stage=stage: captured.__setitem__(stage, out.mean(dim=(2, 3, 4)))
        )
        for stage in STAGES
    ]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    return logits, captured
