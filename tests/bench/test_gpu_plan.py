"""bench/gpu.py without a GPU: its plan covers every benchmark, its flags exist, it refuses to run without CUDA."""
import importlib.util
import re
import sys
from pathlib import Path

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
    assert sum(s.limit_s for s in steps) <= 8 * 60


def test_every_flag_of_the_plan_exists(tmp_path):
    gpu = load_gpu()
    for step in gpu.plan(tmp_path):
        scripts = [a for a in step.argv if a.endswith(".py") and Path(a).parent == BENCH]
        if scripts and Path(scripts[0]).name != "gpu.py":
            source = Path(scripts[0]).read_text()
            for flag in (a for a in step.argv if a.startswith("--")):
                assert f'"{flag}"' in source, (step.name, flag)
            assert step.argv[step.argv.index("--device") + 1] == "cuda"
        elif "zoo.train" in step.argv:
            from zoo.train.cli import parse_args

            args = parse_args(step.argv[step.argv.index("zoo.train") + 1:])
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
