"""``make bench-gpu``: every benchmark under ``bench/`` that has a GPU side, with ``--device cuda``, in one run of
under 8 minutes, into one results file.

Steps (each a child process with its own time limit, all within ``--budget`` seconds):

* ``models``       bench/models.py: eager fp32, channels_last_3d, bf16 autocast and torch.compile, as ratios to eager;
* ``evaluate``     bench/evaluate.py: ``zoo-test --large`` on the CUDA caching allocator vs its budget (full size);
* ``extract``      bench/extract.py: zoo.extract vs the decode-everything loop, the model on the GPU;
* ``ddp-nccl``     ``torchrun --nproc_per_node=1 -m zoo.train`` on the synthetic dataset: DDP over NCCL, 1 GPU
  (a smoke test: the process group, the reducer and the checkpoints on CUDA);
* ``onnxruntime``  onnxruntime's CUDA provider vs PyTorch eager on CUDA (R(2+1)D-18, batch 8), when installed.

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


def plan(work: Path, quick: bool = False) -> list[Step]:
    """The steps of a GPU run (``work``: a scratch folder for the synthetic data and outputs)."""
    data, train = work / "synthetic", work / "train"
    models = ["--configs", "r2plus1d_18@8x112"] if quick else ["--configs", "r2plus1d_18@8x112", "ir_csn_152@32x224"]
    return [
        Step("models", "models", [PY, str(BENCH / "models.py"), "--device", "cuda", "--repeats", "10", *models], 140),
        Step("evaluate", "evaluate", [PY, str(BENCH / "evaluate.py"), "--device", "cuda", "--threads", "4",
                                      *(["--quick"] if quick else [])], 70),
        Step("extract", "extract", [PY, str(BENCH / "extract.py"), "--device", "cuda", "--workers", "4",
                                    "--threads", "4", "--videos", "8", "--seconds", "4", "--width", "1.0",
                                    "--batch-windows", "32", "--repeats", "2"], 70),
        Step("synthetic-data", "train", [PY, "-m", "zoo.data.synthetic", str(data), "--classes", "4",
                                         "--videos-per-class", "4", "--val-videos-per-class", "2"], 30),
        Step("ddp-nccl", "train", [PY, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1",
                                   "-m", "zoo.train", "--data-path", str(data), "--output-dir", str(train),
                                   "--device", "cuda", "--model", "r2plus1d_18", "--clip-len", "8",
                                   "--frame-rate", "0", "--batch-size", "8", "--epochs", "2", "--clips-per-video", "2",
                                   "--amp", "bf16", "--sync-bn", "--workers", "4", "--no-progress"], 90),
        Step("onnxruntime", "convert", [PY, str(Path(__file__).resolve()), "--onnxruntime-child"], 60),
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
    start = time.perf_counter()
    env = dict(os.environ, **step.env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH.parent), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run(step.argv, capture_output=True, text=True, timeout=limit_s, env=env)
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        status = f"timeout after {limit_s:.0f} s"
        output = (exc.stdout or b"").decode(errors="replace") + (exc.stderr or b"").decode(errors="replace")
    return {"step": step.name, "script": step.script, "command": step.argv, "status": status,
            "seconds": round(time.perf_counter() - start, 1), "ratios": ratio_lines(output),
            "output_tail": output[-3000:]}


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


def onnxruntime_child() -> int:
    """onnxruntime CUDA provider vs PyTorch eager on CUDA, R(2+1)D-18 8x112, batch 8 (median of 10)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    import zoo
    from zoo.convert.onnx_export import export_module

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("SKIPPED onnxruntime has no CUDAExecutionProvider (pip uninstall onnxruntime; "
              "pip install onnxruntime-gpu)")
        return 0
    model = zoo.create_model("r2plus1d_18", num_classes=400).eval()
    x = torch.randn(8, 3, 8, 112, 112)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_module(model, Path(tmp) / "r2plus1d_18.onnx", tuple(x.shape), dynamic="batch")
        session = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default="bench-gpu-results.json", help="results file (JSON)")
    p.add_argument("--budget", type=float, default=450.0, help="seconds for all steps together (default 450)")
    p.add_argument("--quick", action="store_true", help="smaller models and sizes (a few minutes)")
    p.add_argument("--onnxruntime-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.onnxruntime_child:
        return onnxruntime_child()
    problem = cuda_problem()
    if problem is not None:
        print(f"bench-gpu: error: {problem}. The GPU benchmarks need a CUDA GPU; `make bench` runs the CPU ones.",
              file=sys.stderr)
        return 1
    start = time.perf_counter()
    results = {"environment": environment(), "budget_s": args.budget, "steps": []}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        for step in plan(Path(tmp), args.quick):
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
    failed = [s["step"] for s in results["steps"] if s["status"] != "ok"]
    print(f"results in {args.output} ({results['seconds']} s)" + (f"; not ok: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
