"""bench/gpu.py without a GPU: its plan covers every benchmark, its flags exist, it refuses to run without CUDA."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module           # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_stops_with_a_clear_message(tmp_path, monkeypatch, capsys):
    gpu = load_gpu()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "results.json"
    assert gpu.main(["--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bench-gpu: error: no CUDA device") and "make bench" in err
    assert not out.exists()


def test_every_benchmark_is_planned_or_cpu_only(tmp_path):
    gpu = load_gpu()
    steps = gpu.plan(tmp_path)
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_") and p.stem != "gpu"}
    planned = {s.script for s in steps}
    assert scripts == planned | set(gpu.CPU_ONLY)
    for path in BENCH.glob("*.py"):            # a script that takes --device has a GPU step
        if '"--device"' in path.read_text() and path.stem != "gpu":
            assert path.stem in planned and path.stem not in gpu.CPU_ONLY
    assert sum(s.limit_s for s in steps) < gpu.DEFAULT_BUDGET_S <= 8 * 60      # the limits fit the budget


def test_every_flag_of_the_plan_exists(tmp_path):
    gpu = load_gpu()
    for step in gpu.plan(tmp_path):
        scripts = [a for a in step.argv if a.endswith(".py") and Path(a).parent == BENCH]
        if scripts and Path(scripts[0]).name != "gpu.py":
            source = Path(scripts[0]).read_text()
            for flag in (a for a in step.argv if a.startswith("--")):
                assert f'"{flag}"' in source, (step.name, flag)
            assert step.argv[step.argv.index("--device") + 1] == "cuda"
        elif "--ddp-child" in step.argv:
            from zoo.train.cli import parse_args

            command = gpu.train_command(tmp_path / "data", tmp_path / "out", 2, 1)
            args = parse_args(command[command.index("zoo.train") + 1:])
            assert args.device == "cuda" and args.sync_bn
        elif "zoo.data.synthetic" in step.argv:
            import argparse

            from zoo.data.synthetic import add_arguments

            add_arguments(argparse.ArgumentParser()).parse_args(step.argv[step.argv.index("zoo.data.synthetic") + 1:])


def test_steps_report_status_ratios_and_timeouts():
    gpu = load_gpu()
    ok = gpu.run_step(gpu.Step("echo", "x", [sys.executable, "-c", "print('x\\nRATIO a / b = 1.50 (goal)')"], 30), 30)
    assert ok["status"] == "ok" and ok["ratios"] == ["RATIO a / b = 1.50 (goal)"]
    bad = gpu.run_step(gpu.Step("fail", "x", [sys.executable, "-c", "raise SystemExit(3)"], 30), 30)
    assert bad["status"] == "failed (exit 3)"
    slow = gpu.run_step(gpu.Step("slow", "x", [sys.executable, "-c", "import time; time.sleep(30)"], 30), 1)
    assert re.match(r"timeout after 1 s", slow["status"])


def test_ddp_step_runs_two_nccl_ranks_with_sync_bn_fp16_and_a_resume_or_says_it_skipped(tmp_path):
    gpu = load_gpu()
    two = next(s for s in gpu.plan(tmp_path, gpus=4) if s.name == "ddp-nccl")
    assert two.skip is None and two.argv[-1] == "2"
    first, again = gpu.train_command(tmp_path, tmp_path / "out", 2, 1), gpu.train_command(tmp_path, tmp_path / "out", 2, 2)
    assert "--nproc-per-node=2" in first and "--sync-bn" in first
    assert first[first.index("--amp") + 1] == "fp16"                       # the gradient scaler is in play
    assert first[first.index("--epochs") + 1] == "1" and again[again.index("--epochs") + 1] == "2"   # then resume
    assert "--no-resume" not in again
    one = next(s for s in gpu.plan(tmp_path, gpus=1) if s.name == "ddp-nccl")
    result = gpu.run_step(one, 30)
    assert result["status"] == "skipped: needs two GPUs for a process group over NCCL (1 visible)"


def test_a_skipped_child_is_reported_as_skipped_not_ok():
    gpu = load_gpu()
    code = f"print('working'); print('onnxruntime has no CUDAExecutionProvider'); raise SystemExit({gpu.SKIPPED_EXIT})"
    result = gpu.run_step(gpu.Step("onnxruntime", "convert", [sys.executable, "-c", code], 30), 30)
    assert result["status"] == "skipped: onnxruntime has no CUDAExecutionProvider"
    ran = gpu.run_step(gpu.Step("onnxruntime", "convert", [sys.executable, "-c", "print('PROVIDERS CUDAExecutionProvider,"
                                                           "CPUExecutionProvider')"], 30), 30)
    assert ran["status"] == "ok" and ran["providers"] == "CUDAExecutionProvider,CPUExecutionProvider"


def test_main_counts_skipped_steps_apart_from_ok_and_failed(tmp_path, monkeypatch, capsys):
    gpu = load_gpu()
    monkeypatch.setattr(gpu, "cuda_problem", lambda: None)
    monkeypatch.setattr(gpu, "environment", lambda: {"gpu": "fake"})
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(gpu, "run_step", lambda step, limit: {"step": step.name, "status": "ok", "seconds": 0,
                                                              "ratios": []} if step.skip is None
                        else {"step": step.name, "status": f"skipped: {step.skip}", "seconds": 0, "ratios": []})
    out = tmp_path / "results.json"
    assert gpu.main(["--output", str(out)]) == 0
    import json

    statuses = {s["step"]: s["status"] for s in json.loads(out.read_text())["steps"]}
    assert statuses["ddp-nccl"].startswith("skipped: needs two GPUs") and statuses["models"] == "ok"
    assert "skipped: ddp-nccl" in capsys.readouterr().out


def test_onnxruntime_step_checks_and_reports_the_provider_that_ran(monkeypatch, capsys):
    gpu = load_gpu()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evaluate"))
    from fake_onnxruntime import fake_onnxruntime

    from zoo.onnxrt import OnnxRuntimeProblem

    ort = fake_onnxruntime()
    monkeypatch.setitem(sys.modules, "onnxruntime", ort)
    gpu.onnxruntime_cuda_session("m.onnx", "cuda:1")
    assert ort.sessions[-1].providers[0][1]["device_id"] == 1
    assert "PROVIDERS CUDAExecutionProvider,CPUExecutionProvider" in capsys.readouterr().out
    ort.started = ["CPUExecutionProvider"]          # the CUDA provider failed to start: an error, not a CPU timing
    with pytest.raises(OnnxRuntimeProblem):
        gpu.onnxruntime_cuda_session("m.onnx")
    ort.available = ["CPUExecutionProvider"]        # the CPU wheel: nothing to measure (skipped)
    assert gpu.onnxruntime_cuda_session("m.onnx") is None


def test_a_timeout_keeps_the_rows_printed_before_it():
    gpu = load_gpu()
    code = "import time; print('RATIO r2plus1d_18 batch 16 bf16_autocast / eager_fp32 clips/s = 2.10'); time.sleep(60)"
    result = gpu.run_step(gpu.Step("models", "models", [sys.executable, "-c", code], 60), 3)
    assert result["status"] == "timeout after 3 s"
    assert result["ratios"] == ["RATIO r2plus1d_18 batch 16 bf16_autocast / eager_fp32 clips/s = 2.10"]


def load_bench(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_models_step_prints_ratio_lines_at_a_busy_batch_and_bounds_compile(tmp_path, capsys):
    gpu = load_gpu()
    step = next(s for s in gpu.plan(tmp_path) if s.name == "models")
    assert int(step.argv[step.argv.index("--batch") + 1]) >= 8              # not launch-bound
    assert float(step.argv[step.argv.index("--compile-limit") + 1]) < step.limit_s
    models = load_bench("models")
    rows = models.bench_config("tiny", "r3d_10", {"channel_multiplier": 0.125}, (1, 3, 4, 32, 32),
                               torch.device("cpu"), 1, with_compile=True, with_bf16=False, batch=2,
                               compile_backend="eager")
    assert [r[0] for r in rows] == ["eager_fp32", "channels_last_3d", "torch_compile"]
    ratios = gpu.ratio_lines(capsys.readouterr().out)
    assert [r.split(" / ")[0] for r in ratios] == ["RATIO tiny batch 2 channels_last_3d", "RATIO tiny batch 2 torch_compile"]
    with pytest.raises(models.CompileTimeout):
        models.within(0.2, lambda: __import__("time").sleep(30))


def test_evaluate_step_compares_the_budget_with_max_memory_reserved(monkeypatch):
    evaluate = load_bench("evaluate")
    assert evaluate.budget_key("cuda") == "reserved" and evaluate.budget_key("cpu") == "rss"
    stats = {"reserved": 100, "allocated": 40, "max_reserved": 100, "max_allocated": 40}

    def reset(device=None):
        stats["max_reserved"], stats["max_allocated"] = stats["reserved"], stats["allocated"]

    cuda = torch.cuda
    monkeypatch.setattr(cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(cuda, "memory_reserved", lambda device=None: stats["reserved"])
    monkeypatch.setattr(cuda, "memory_allocated", lambda device=None: stats["allocated"])
    monkeypatch.setattr(cuda, "max_memory_reserved", lambda device=None: stats["max_reserved"])
    monkeypatch.setattr(cuda, "max_memory_allocated", lambda device=None: stats["max_allocated"])
    monkeypatch.setattr(cuda, "reset_peak_memory_stats", reset)
    with evaluate.CudaPeaks("cuda:0") as peaks:
        stats.update(max_reserved=900, max_allocated=700)       # a chunk's peak (no 2 ms sample would see it)
        cuda.reset_peak_memory_stats("cuda:0")                  # the evaluator resets between chunks
        stats.update(max_reserved=300, max_allocated=200)
    assert peaks.peak == {"reserved": 800, "allocated": 660}
    assert cuda.reset_peak_memory_stats is reset                # restored
