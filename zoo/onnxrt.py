"""onnxruntime sessions for the zoo: a clear error when no runtime is installed, and CUDA sessions that run on
the GPU they were asked for or not at all.

Two distributions provide the ``onnxruntime`` module: ``onnxruntime`` (CPU; the ``cpu`` extra) and
``onnxruntime-gpu`` (CUDA and CPU; the ``gpu`` extra). They install into the same folder, so exactly one of
them may be installed. A CUDA session gets the device's index (every torchrun rank and ``--device cuda:3``
on its own GPU), cuDNN's heuristic convolution search (the exhaustive one reruns for every new input shape,
i.e. every chunk size) and, with ``gpu_mem_limit``, an arena capped at that many bytes that grows by what
each allocation asks. A session whose CUDA provider did not start (onnxruntime then runs on the CPU) is an
error, not a silently slow run.
"""
from __future__ import annotations

import importlib.metadata
import os

import torch

#: the distributions that install the ``onnxruntime`` module (one at most)
RUNTIMES = ("onnxruntime", "onnxruntime-gpu")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
INSTALL_HINT = ("pip install 'video-model-zoo[cpu]' for the CPU runtime, or 'video-model-zoo[gpu]' for the "
                "CUDA one (never both)")
#: what onnxruntime's CUDA arena says when an allocation does not fit (it has no exception type for it)
ARENA_FULL_MESSAGES = ("is smaller than requested bytes", "failed to allocate memory", "out of memory")


class OnnxRuntimeProblem(RuntimeError):
    """onnxruntime is missing, or cannot run the model where it was asked to."""


def installed_runtimes() -> list[str]:
    """Which of the distributions providing ``onnxruntime`` are installed."""
    found = []
    for name in RUNTIMES:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def import_onnxruntime():
    """The ``onnxruntime`` module, or :class:`OnnxRuntimeProblem` saying which extra installs it (or that two
    runtimes overwrite each other)."""
    both = installed_runtimes()
    if len(both) > 1:
        raise OnnxRuntimeProblem(
            f"both {' and '.join(both)} are installed; they share one onnxruntime/ folder and break each "
            "other: pip uninstall -y onnxruntime onnxruntime-gpu, then install one of them: " + INSTALL_HINT)
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxRuntimeProblem(f"onnxruntime is not installed ({exc}): {INSTALL_HINT}") from None
    return onnxruntime


def cuda_index(device: torch.device) -> int:
    """The GPU index of a CUDA device (``cuda`` alone: the current device)."""
    if device.index is not None:
        return device.index
    return torch.cuda.current_device() if torch.cuda.is_available() else 0


def cuda_provider_options(index: int, gpu_mem_limit: int | None = None) -> dict:
    """CUDA provider options: the device, the heuristic cuDNN search, and the arena limit when given."""
    options = {"device_id": int(index), "cudnn_conv_algo_search": "HEURISTIC"}
    if gpu_mem_limit is not None:
        options.update(gpu_mem_limit=int(gpu_mem_limit), arena_extend_strategy="kSameAsRequested")
    return options


def create_session(path: str | os.PathLike, device: str | torch.device = "cpu", gpu_mem_limit: int | None = None):
    """An ``InferenceSession`` of ``path`` on ``device``: the CPU provider, or CUDA on that GPU (checked)."""
    ort = import_onnxruntime()
    device = torch.device(device)
    if device.type != "cuda":
        return ort.InferenceSession(str(path), providers=[CPU])
    available = ort.get_available_providers()
    if CUDA not in available:
        raise OnnxRuntimeProblem(
            f"--device {device}: this onnxruntime {ort.__version__} has no CUDA provider (only "
            f"{', '.join(available)}); pip uninstall onnxruntime, then pip install 'video-model-zoo[gpu]' "
            "(or run with --device cpu)")
    options = cuda_provider_options(cuda_index(device), gpu_mem_limit)
    session = ort.InferenceSession(str(path), providers=[(CUDA, options), CPU])
    used = session.get_providers()
    if CUDA not in used:
        raise OnnxRuntimeProblem(
            f"{path}: onnxruntime could not start its CUDA provider on {device} and would run on "
            f"{', '.join(used)} instead (are the CUDA and cuDNN libraries onnxruntime-gpu {ort.__version__} "
            "needs installed? its log above says which one failed to load)")
    return session


def arena_shrink_options(device: torch.device):
    """Run options that hand the arena's free memory back to the device at the end of the run."""
    ort = import_onnxruntime()
    options = ort.RunOptions()
    arena = f"gpu:{cuda_index(device)}" if device.type == "cuda" else "cpu:0"
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", arena)
    return options


def arena_full(exc: BaseException) -> bool:
    """Whether an onnxruntime error is its arena running out of memory."""
    message = str(exc).lower()
    return any(m in message for m in ARENA_FULL_MESSAGES)


def model_bytes(path: str | os.PathLike) -> int:
    """Size of an ONNX file with its external data files (``NAME.onnx.data`` beside it)."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    return sum(entry.stat().st_size for entry in os.scandir(folder or ".")
               if entry.is_file() and entry.name.startswith(name))
