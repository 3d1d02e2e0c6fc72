"""Mixed precision: the ``--amp`` names of the tools and their torch dtypes, in one table.

Importing the module is cheap (torch is imported when a dtype is asked for), so the tools' ``--help`` uses
:data:`AMP_CHOICES`.
"""
from __future__ import annotations

#: ``--amp`` autocast dtypes of the tools that run models (torch dtypes: :func:`amp_dtype`)
AMP_CHOICES = ("bf16", "fp16")


def amp_dtype(name: str | None, device_type: str = "cpu"):
    """The torch dtype of an ``--amp`` name (:data:`AMP_CHOICES`); ``None`` -> ``None`` (no autocast); ``auto``
    (zoo-train's bare ``--amp``) is fp16 on CUDA and bf16 elsewhere. ValueError on an unknown name."""
    import torch

    if name is None:
        return None
    if name == "auto":
        name = "fp16" if device_type == "cuda" else "bf16"
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in dtypes:
        raise ValueError(f"unknown --amp {name!r}; choose {' or '.join(AMP_CHOICES)}")
    return dtypes[name]


def check_backend(amp: str | None, backend: str) -> None:
    """:class:`~zoo.errors.UsageError` for ``--amp`` with a backend other than ``torch``: onnxruntime runs the
    exported graph in its own dtype, so autocast would be silently ignored."""
    from zoo.errors import UsageError

    if amp is not None and backend != "torch":
        raise UsageError(f"--amp applies to the torch backend only, not --backend {backend} (onnxruntime runs the "
                         "exported model in its own dtype)")


def check_amp(amp: str | None, device) -> None:
    """:class:`~zoo.errors.UsageError` for ``--amp bf16`` on a GPU without bfloat16 (before Ampere: V100, T4),
    where autocast would fail at the first step. Imports torch."""
    import torch

    from zoo.errors import UsageError

    device = torch.device(device)
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        index = device.index if device.index is not None else torch.cuda.current_device()
        raise UsageError(f"--amp bf16: {torch.cuda.get_device_name(index)} ({device}) has no bfloat16 support; "
                         "use --amp fp16")
