"""Export a zoo checkpoint to ONNX and verify it with onnxruntime against PyTorch."""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from zoo._io import atomic_path
from zoo.checkpoint import load_checkpoint
from zoo.guards import refuse_same_file

log = logging.getLogger(__name__)

DYNAMIC_AXES = {"batch": 0, "time": 2, "space": (3, 4)}


#: the oldest opset torch's ONNX exporter (dynamo) writes
MIN_OPSET = 18


class OnnxMismatchError(RuntimeError):
    """onnxruntime's output differs from PyTorch's by more than the tolerance."""


@dataclass
class OnnxCheck:
    """Result of comparing onnxruntime with PyTorch on one random input."""

    input_shape: tuple[int, ...]
    max_abs_diff: float
    output_scale: float

    @property
    def relative(self) -> float:
        return self.max_abs_diff / max(self.output_scale, 1e-12)


def _dynamic_shapes(dynamic: Iterable[str]) -> dict | None:
    dims: dict[int, torch.export.Dim] = {}
    for name in dynamic:
        if name not in DYNAMIC_AXES:
            raise ValueError(f"dynamic axes are {', '.join(DYNAMIC_AXES)}, not {name!r}")
        axes = DYNAMIC_AXES[name]
        for axis in (axes if isinstance(axes, tuple) else (axes,)):
            label = {0: "batch", 2: "time", 3: "height", 4: "width"}[axis]
            dims[axis] = torch.export.Dim(label, min=1, max=4096)
    return {"x": dims} if dims else None


def check_onnx(onnx_path: str | os.PathLike, model: torch.nn.Module, shape: tuple[int, ...], tolerance: float = 1e-4,
               seed: int = 0) -> OnnxCheck:
    """Run ``onnx_path`` in onnxruntime and ``model`` in PyTorch on one random input of ``shape``.

    Raises :class:`OnnxMismatchError` if the max absolute difference exceeds ``tolerance`` times the
    output scale (max absolute PyTorch output, at least 1).
    """
    from zoo.onnxrt import create_session

    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
    with torch.no_grad():
        expected = model(x).numpy()
    session = create_session(onnx_path, "cpu")
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != expected.shape:
        raise OnnxMismatchError(f"{onnx_path}: onnxruntime output shape {got.shape} != PyTorch {expected.shape}")
    check = OnnxCheck(tuple(shape), float(np.abs(got - expected).max()), max(1.0, float(np.abs(expected).max())))
    if check.relative > tolerance:
        raise OnnxMismatchError(f"{onnx_path}: onnxruntime differs from PyTorch by {check.max_abs_diff:.3g} "
                                f"(output scale {check.output_scale:.3g}, tolerance {tolerance:g} relative) on "
                                f"input {shape}")
    return check


def check_opset(opset: int) -> None:
    """:class:`~zoo.errors.UsageError` unless the exporter can write ``opset`` (:data:`MIN_OPSET` to onnx's newest)."""
    import onnx

    from zoo.errors import UsageError
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= int(opset) <= newest:
        raise UsageError(f"--opset {opset}: the exporter writes opsets {MIN_OPSET} to {newest}")


def to_onnx(ckpt: str | os.PathLike, out_onnx: str | os.PathLike, clip_len: int | None = None,
            crop_size: int | None = None, opset: int = 18, dynamic: Iterable[str] | str | None = None,
            batch_size: int = 1, verify: bool = True, tolerance: float = 1e-4,
            report: Callable[[str], None] | None = None) -> Path:
    """Export a zoo checkpoint to ONNX (input ``x`` of shape N x 3 x T x H x W, output ``logits``).

    ``clip_len``/``crop_size`` default to the checkpoint's metadata (else 8 / 112; 16 / 112 for C3D).
    ``dynamic`` names axes to leave symbolic: any of ``batch``, ``time``, ``space``. With ``verify`` the
    file is run in onnxruntime on random input (and, when dynamic, on a second differently sized input)
    and compared with PyTorch; the max absolute difference goes to ``report`` (default: this module's logger
    at INFO), above ``tolerance`` relative to the output scale it is an error and nothing is written.
    """
    refuse_same_file(out_onnx, [ckpt])
    check_opset(opset)
    model = load_checkpoint(ckpt).eval()
    meta = model.zoo_meta
    is_c3d = meta["arch"] == "c3d"
    clip_len = clip_len or meta.get("clip_len") or (16 if is_c3d else 8)
    crop = crop_size or meta.get("crop_size") or 112
    shape = (batch_size, 3, int(clip_len), int(crop), int(crop))
    return export_module(model, out_onnx, shape, opset=opset, dynamic=dynamic, verify=verify, tolerance=tolerance,
                         source=str(ckpt), report=report)


def export_module(model: torch.nn.Module, out_onnx: str | os.PathLike, shape: tuple[int, ...], opset: int = 18,
                  dynamic: Iterable[str] | str | None = None, verify: bool = True, tolerance: float = 1e-4,
                  output_name: str = "logits", source: str | None = None,
                  report: Callable[[str], None] | None = None) -> Path:
    """Export any module taking one ``shape`` input ``x`` and returning one tensor to ONNX (see :func:`to_onnx`
    for ``dynamic``, ``verify``, ``tolerance`` and ``report``); ``source`` names the model in errors."""
    import onnx

    check_opset(opset)
    report = report or log.info
    model = model.eval()
    source = source or type(model).__name__
    batch_size = shape[0]
    if isinstance(dynamic, str):
        dynamic = [d for d in dynamic.split(",") if d]
    dynamic = list(dynamic or [])
    # torch.export specialises axes of size 1, so a dynamic batch is traced with 2 samples
    x = torch.randn((max(batch_size, 2),) + tuple(shape[1:]) if "batch" in dynamic else shape)
    out_onnx = Path(out_onnx)
    with atomic_path(out_onnx) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset, input_names=["x"],
                                        output_names=[output_name], dynamic_shapes=_dynamic_shapes(dynamic),
                                        external_data=False, verbose=False)
        except Exception as exc:   # torch.export raises many types; keep the first line and add a hint
            hint = (" With dynamic axes the example input must be large enough that no feature map shrinks to "
                    "size 1 (use a larger --clip-len/--crop-size)." if dynamic else "")
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(f"{source}: ONNX export of input {tuple(shape)} failed: {first}.{hint}") from exc
        program.save(str(tmp))
        written = {i.domain: i.version for i in onnx.load(str(tmp), load_external_data=False).opset_import}
        if written.get("", written.get("ai.onnx")) != int(opset):
            raise RuntimeError(f"{source}: the exporter wrote opset {written.get('')} instead of {opset}; "
                               "nothing was written")
        if verify:
            check = check_onnx(tmp, model, shape, tolerance)
            report(f"onnxruntime vs PyTorch on {shape}: max abs diff {check.max_abs_diff:.3g} "
                   f"(output scale {check.output_scale:.3g})")
            if dynamic:
                other = list(shape)
                if "batch" in dynamic:
                    other[0] = batch_size + 1
                if "time" in dynamic:
                    other[2] = 2 * shape[2]
                if "space" in dynamic:
                    other[3] = other[4] = shape[3] + 32
                check = check_onnx(tmp, model, tuple(other), tolerance, seed=1)
                report(f"onnxruntime vs PyTorch on {tuple(other)}: max abs diff {check.max_abs_diff:.3g}")
    return out_onnx


__all__ = ["MIN_OPSET", "OnnxCheck", "OnnxMismatchError", "check_onnx", "check_opset", "export_module", "to_onnx"]
