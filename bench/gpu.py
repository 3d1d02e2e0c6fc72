"""``make bench-gpu``: every benchmark under ``bench/`` that has a GPU side, with ``--device cuda``, in one run of
under 8 minutes, into one results file.

Steps (each a child process with its own time limit; the limits add up to less than ``--budget``):

* ``models``       bench/models.py: eager fp32, channels_last_3d, bf16 autocast and torch.compile (its compilation
  bounded by ``--compile-limit``), each a ``RATIO`` line to eager at batch 16 (not launch-bound), printed as it is
  measured so a timeout keeps the finished rows;
* ``evaluate``     bench/evaluate.py: ``zoo-test --large`` vs its budget, compared with the caching allocator's
  ``max_memory_reserved`` (full size);
* ``extract``      bench/extract.py: zoo.extract vs the decode-everything loop, the model on the GPU;
* ``ddp-nccl``     with two or more GPUs: two ranks of ``torchrun -m zoo.train`` over NCCL with sync-BN and fp16,
  one epoch, then the same command to two epochs, which resumes (the gradient scaler's state saved and restored,
  checked); with one GPU the step says it was skipped (no process group, no NCCL to test);
* ``onnxruntime``  onnxruntime's CUDA provider (on the GPU asked for, checked with ``get_providers()``, the provider
  that ran reported) vs PyTorch eager on CUDA (R(2+1)D-18, batch 8); skipped, and said so, without onnxruntime-gpu.

A step is ``ok``, ``skipped: WHY`` (never counted as ok), ``failed (exit N)`` or ``timeout after N s``.
The CPU-only benchmarks (convert, decode_views, prepare, hub, train) have no GPU side: ``make bench`` runs them.
Without CUDA the script stops at once with a message saying so (exit status 1) and writes nothing.

    python bench/gpu.py                         # -> bench-gpu-results.json
    python bench/gpu.py --output results.json --budget 420
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PY = sys.executable
#: seconds for all steps together (the step limits add up to less, leaving room for start-up)
DEFAULT_BUDGET_S = 450.0
#: the exit status of a child that had nothing to measure here (reported as skipped, with its last line)
SKIPPED_EXIT = 77                # automake's "skipped" status

#: scripts with no GPU side themselves (the test checks that every script under bench/ is here or in the plan);
#: their GPU counterparts (DDP over NCCL for train, onnxruntime-CUDA for convert) are steps of the plan
CPU_ONLY = ("convert", "decode_views", "prepare", "hub", "train", "cli_help", "report")


@dataclass
class Step:
    """One child process of the GPU run."""

    name: str
    script: str            # the bench/ script it exercises
    argv: list[str]
    limit_s: float
    env: dict = field(default_factory=dict)
    skip: str | None = None      # why the step cannot run on this machine (reported, never "ok")


def train_command(data: Path, out: Path, gpus: int, epochs: int) -> list[str]:
    """``torchrun -m zoo.train`` on ``gpus`` ranks over NCCL: sync-BN, fp16 with the gradient scaler."""
    return [PY, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={gpus}", "-m", "zoo.train",
            "--data-path", str(data), "--output-dir", str(out), "--device", "cuda", "--model", "r2plus1d_18",
            "--clip-len", "8", "--frame-rate", "0", "--batch-size", "8", "--epochs", str(epochs),
            "--clips-per-video", "2", "--amp", "fp16", "--sync-bn", "--workers", "4", "--no-progress"]


def plan(work: Path, quick: bool = False, gpus: int = 1) -> list[Step]:
    """The steps of a GPU run on ``gpus`` visible GPUs (``work``: a scratch folder for data and outputs)."""
    data, train = work / "synthetic", work / "train"
    models = ["--configs", "r2plus1d_18@8x112"] if quick else ["--configs", "r2plus1d_18@8x112", "ir_csn_152@32x224"]
    ddp = Step("ddp-nccl", "train", [PY, str(Path(__file__).resolve()), "--ddp-child", str(data), str(train),
                                     str(min(gpus, 2))], 110)
    if gpus < 2:
        ddp.skip = f"needs two GPUs for a process group over NCCL ({gpus} visible)"
    return [
        Step("models", "models", [PY, str(BENCH / "models.py"), "--device", "cuda", "--repeats", "10",
                                  "--batch", "16", "--compile-limit", "45", *models], 130),
        Step("evaluate", "evaluate", [PY, str(BENCH / "evaluate.py"), "--device", "cuda", "--threads", "4",
                                      *(["--quick"] if quick else [])], 70),
        Step("extract", "extract", [PY, str(BENCH / "extract.py"), "--device", "cuda", "--workers", "4",
                                    "--threads", "4", "--videos", "8", "--seconds", "4", "--width", "1.0",
                                    "--batch-windows", "32", "--repeats", "2"], 60),
        Step("synthetic-data", "train", [PY, "-m", "zoo.data.synthetic", str(data), "--classes", "4",
                                         "--videos-per-class", "4", "--val-videos-per-class", "2"], 20),
        ddp,
        Step("onnxruntime", "convert", [PY, str(Path(__file__).resolve()), "--onnxruntime-child"], 40),
    ]


def cuda_problem() -> str | None:
    """Why this machine cannot run the GPU benchmarks, or ``None`` when it can."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        return f"torch is not importable ({exc})"
    if not torch.cuda.is_available():
        built = torch.version.cuda
        return (f"no CUDA device: torch {torch.__version__} " +
                (f"was built for CUDA {built} but sees no GPU (driver, CUDA_VISIBLE_DEVICES?)" if built else
                 "is a CPU-only build (install a CUDA wheel of torch)"))
    return None


def ratio_lines(output: str) -> list[str]:
    """The ``RATIO ...`` lines a benchmark printed (its results), in order."""
    return [line.strip() for line in output.splitlines() if line.strip().startswith("RATIO")]


def run_step(step: Step, limit_s: float) -> dict:
    """Run one step with a time limit; its status, time, RATIO lines and the tail of its output."""
    if step.skip is not None:
        return {"step": step.name, "script": step.script, "command": step.argv, "status": f"skipped: {step.skip}",
                "seconds": 0.0, "ratios": [], "output_tail": ""}
    start = time.perf_counter()
    env = dict(os.environ, **step.env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH.parent), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"       # what a child printed before a timeout is kept
    try:
        done = subprocess.run(step.argv, capture_output=True, text=True, timeout=limit_s, env=env)
        output = done.stdout + done.stderr
        if done.returncode == 0:
            status = "ok"
        elif done.returncode == SKIPPED_EXIT:
            status = "skipped: " + (done.stdout.strip().splitlines() or ["no reason given"])[-1]
        else:
            status = f"failed (exit {done.returncode})"
    except subprocess.TimeoutExpired as exc:
        status = f"timeout after {limit_s:.0f} s"
        output = _text(exc.stdout) + _text(exc.stderr)
    result = {"step": step.name, "script": step.script, "command": step.argv, "status": status,
              "seconds": round(time.perf_counter() - start, 1), "ratios": ratio_lines(output),
              "output_tail": output[-3000:]}
    providers = [line.split(None, 1)[1] for line in output.splitlines() if line.startswith("PROVIDERS ")]
    if providers:
        result["providers"] = providers[-1]
    return result


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def environment() -> dict:
    import torch

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0),
            "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1)}
    try:
        import onnxruntime as ort
        info["onnxruntime"] = ort.__version__
        info["onnxruntime_providers"] = ort.get_available_providers()
    except ImportError:
        info["onnxruntime"] = None
    return info


def onnxruntime_cuda_session(path, device: str = "cuda:0"):
    """The session of ``path`` on ``device`` (zoo.onnxrt: the GPU's device_id, checked with get_providers());
    prints ``PROVIDERS`` (those that run it). ``None`` when this onnxruntime has no CUDA provider at all."""
    from zoo.onnxrt import CUDA, import_onnxruntime, create_session

    if CUDA not in import_onnxruntime().get_available_providers():
        return None
    session = create_session(path, device)          # raises when the CUDA provider did not start
    print(f"PROVIDERS {','.join(session.get_providers())}", flush=True)
    return session


def onnxruntime_child() -> int:
    """onnxruntime CUDA provider vs PyTorch eager on CUDA, R(2+1)D-18 8x112, batch 8 (median of 10)."""
    import numpy as np
    import torch

    import zoo
    from zoo.convert.onnx_export import export_module
    from zoo.onnxrt import OnnxRuntimeProblem

    model = zoo.create_model("r2plus1d_18", num_classes=400).eval()
    x = torch.randn(8, 3, 8, 112, 112)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = export_module(model, Path(tmp) / "r2plus1d_18.onnx", tuple(x.shape), dynamic="batch",
                                 verify=False)
            session = onnxruntime_cuda_session(path)
        except OnnxRuntimeProblem as exc:
            if "not installed" not in str(exc):
                raise
            session, reason = None, str(exc)
        else:
            reason = "onnxruntime has no CUDAExecutionProvider (pip install '.[gpu]' in a fresh venv)"
        if session is None:
            print(reason)
            return SKIPPED_EXIT
        name = session.get_inputs()[0].name
        feed = {name: x.numpy()}
        cuda_model, xc = model.cuda(), x.cuda()

        def eager():
            with torch.inference_mode():
                cuda_model(xc)
            torch.cuda.synchronize()

        def onnx():
            session.run(None, feed)

        times = {"eager": [], "onnxruntime": []}
        for fn in (eager, onnx):
            fn()
        for _ in range(10):                    # interleaved
            for key, fn in (("eager", eager), ("onnxruntime", onnx)):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
        with torch.inference_mode():
            diff = float(np.abs(session.run(None, feed)[0] - cuda_model(xc).cpu().numpy()).max())
    eager_s, ort_s = (float(np.median(times[k])) for k in ("eager", "onnxruntime"))
    print(f"R(2+1)D-18 8x112 batch 8: eager {eager_s * 1e3:.1f} ms, onnxruntime CUDA {ort_s * 1e3:.1f} ms "
          f"(host input included), max abs diff {diff:.2e}")
    print(f"RATIO onnxruntime CUDA / eager CUDA time = {ort_s / eager_s:.2f}")
    return 0


def ddp_child(data: Path, out: Path, gpus: int) -> int:
    """Two NCCL ranks with sync-BN and fp16 for one epoch, then the same command to two epochs: it must resume
    from the first run's training state with the gradient scaler's state restored."""
    import torch

    def train(epochs: int) -> str:
        done = subprocess.run(train_command(data, out, gpus, epochs), capture_output=True, text=True)
        print(done.stdout + done.stderr, flush=True)
        if done.returncode != 0:
            raise SystemExit(f"zoo-train to epoch {epochs} exited with {done.returncode}")
        return done.stdout

    def scaler_state() -> dict:
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        scaler = state.get("scaler") or {}
        if not scaler.get("scale"):
            raise SystemExit(f"{out / 'last.pt'} has no gradient-scaler state: {scaler}")
        return {"epoch": state["epoch"], "world_size": state["world_size"], "scale": float(scaler["scale"]),
                "growth_tracker": int(scaler.get("_growth_tracker", 0))}

    t0 = time.perf_counter()
    train(1)
    first = scaler_state()
    t1 = time.perf_counter()
    resumed = train(2)
    second = scaler_state()
    t2 = time.perf_counter()
    if "resumed from" not in resumed or first["epoch"] != 1 or second["epoch"] != 2 or second["world_size"] != gpus:
        raise SystemExit(f"the second run did not resume from the first: {first} -> {second}")
    print(f"{gpus} ranks over NCCL, sync-BN, fp16: epoch 1 {t1 - t0:.1f} s, resumed to epoch 2 {t2 - t1:.1f} s; "
          f"gradient scaler {first} -> {second}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default="bench-gpu-results.json", help="results file (JSON)")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                   help=f"seconds for all steps together (default {DEFAULT_BUDGET_S:g})")
    p.add_argument("--quick", action="store_true", help="smaller models and sizes (a few minutes)")
    p.add_argument("--onnxruntime-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ddp-child", nargs=3, metavar=("DATA", "OUT", "GPUS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.onnxruntime_child:
        return onnxruntime_child()
    if args.ddp_child:
        data, out, gpus = args.ddp_child
        return ddp_child(Path(data), Path(out), int(gpus))
    problem = cuda_problem()
    if problem is not None:
        print(f"bench-gpu: error: {problem}. The GPU benchmarks need a CUDA GPU; `make bench` runs the CPU ones.",
              file=sys.stderr)
        return 1
    start = time.perf_counter()
    results = {"environment": environment(), "budget_s": args.budget, "steps": []}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        import torch

        for step in plan(Path(tmp), args.quick, gpus=torch.cuda.device_count()):
            left = args.budget - (time.perf_counter() - start)
            if left < 20:
                results["steps"].append({"step": step.name, "status": "not run: time budget spent"})
                continue
            print(f"== {step.name} (at most {min(step.limit_s, left):.0f} s)", flush=True)
            result = run_step(step, min(step.limit_s, left))
            results["steps"].append(result)
            print(f"   {result['status']} in {result['seconds']} s", flush=True)
            for line in result["ratios"]:
                print(f"   {line}", flush=True)
    results["seconds"] = round(time.perf_counter() - start, 1)
    from zoo._io import atomic_write_text

    atomic_write_text(args.output, json.dumps(results, indent=2) + "\n")
    failed = [s["step"] for s in results["steps"] if s["status"] != "ok" and not s["status"].startswith("skipped")]
    skipped = [s["step"] for s in results["steps"] if s["status"].startswith("skipped")]
    print(f"results in {args.output} ({results['seconds']} s)" + (f"; not ok: {', '.join(failed)}" if failed else "")
          + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
