"""Forward throughput (clips/s) and peak memory of the big models, as ratios to eager fp32 in the same run.

Variants: eager fp32, channels_last_3d, bf16 autocast, torch.compile. Where torchvision is importable,
also our r2plus1d_18 (torchvision layout) against torchvision's r2plus1d_18 (goal: no slower).

    python bench/models.py              # the three issue configurations (slow on 2 CPU cores)
    python bench/models.py --quick      # R(2+1)D-18 8x112 only, fewer repeats
    python bench/models.py --device cuda --batch 16 --compile-limit 90   # make bench-gpu's step

Each variant's throughput is printed as a ``RATIO`` line against eager fp32 as soon as it is measured (output
flushed), so a run cut short keeps its finished rows. On a GPU use a batch that keeps the GPU busy (batch 1 of a
small clip measures kernel launches, not the model). ``--compile-limit`` bounds torch.compile's first call (the
compilation): a variant that does not compile in time is reported as skipped.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402
from _common import peak_memory, time_call  # noqa: E402

CONFIGS = {
    "r2plus1d_18@8x112": ("r2plus1d_18", {}, (1, 3, 8, 112, 112)),
    "r2plus1d_34@32x112": ("r2plus1d_34", {}, (1, 3, 32, 112, 112)),
    "ir_csn_152@32x224": ("ir_csn_152", {"use_pool1": True}, (1, 3, 32, 224, 224)),
}


class CompileTimeout(Exception):
    """torch.compile's first call (the compilation) took longer than ``--compile-limit``."""


def within(seconds: float | None, fn):
    """``fn()``, interrupted by :class:`CompileTimeout` after ``seconds`` (SIGALRM; main thread only)."""
    if not seconds:
        return fn()

    def alarm(signum, frame):
        raise CompileTimeout(f"not compiled within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def variants(model: torch.nn.Module, device: torch.device, with_compile: bool, with_bf16: bool = True,
             compile_limit: float | None = None, compile_backend: str = "inductor"):
    """(name, callable-builder) pairs; each builder returns a function running one forward pass (the compiled
    variant's builder compiles it, within ``compile_limit`` seconds)."""
    def eager(x):
        return lambda: model(x)

    def channels_last(x):
        m = model.to(memory_format=torch.channels_last_3d)
        xc = x.contiguous(memory_format=torch.channels_last_3d)
        return lambda: m(xc)

    def bf16(x):
        def run():
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return model(x)
        return run

    out = [("eager_fp32", eager), ("channels_last_3d", channels_last)]
    if with_bf16:
        out.append(("bf16_autocast", bf16))
    if with_compile:
        def compiled(x):
            m = torch.compile(model, backend=compile_backend)
            within(compile_limit, lambda: m(x))          # the first call compiles
            return lambda: m(x)
        out.append(("torch_compile", compiled))
    return out


def bench_config(label, arch, options, shape, device, repeats, with_compile, with_bf16=True, batch=None,
                 compile_limit=None, compile_backend="inductor"):
    """Time every variant of one configuration; a row and a ``RATIO`` line per variant as soon as it is measured."""
    if batch is not None:
        shape = (batch, *shape[1:])
    model = zoo.create_model(arch, **options).eval().to(device)
    x = torch.randn(shape, device=device)
    rows = []
    print(f"\n{label} on {device.type} (batch {shape[0]})", flush=True)
    print(f"  {'variant':18s} {'clips/s':>9s} {'ratio':>7s} {'peak MiB':>9s} {'mem ratio':>9s}", flush=True)
    with torch.inference_mode():
        for name, make in variants(model, device, with_compile, with_bf16, compile_limit, compile_backend):
            model.to(memory_format=torch.contiguous_format)
            try:
                fn = make(x)
            except CompileTimeout as exc:
                print(f"  {name:18s} skipped: {exc}", flush=True)
                continue
            with peak_memory(device) as mem:
                seconds = time_call(fn, device, repeats)
            rows.append((name, shape[0] / seconds, mem["peak"]))
            rate, peak = rows[-1][1], rows[-1][2]
            base_rate, base_mem = rows[0][1], max(rows[0][2], 1)
            print(f"  {name:18s} {rate:9.3f} {rate / base_rate:7.2f} {peak / 2**20:9.1f} {peak / base_mem:9.2f}",
                  flush=True)
            if name != rows[0][0]:
                print(f"RATIO {label} batch {shape[0]} {name} / {rows[0][0]} clips/s = {rate / base_rate:.2f}",
                      flush=True)
    return rows


def bench_torchvision(device, repeats):
    try:
        from torchvision.models.video import r2plus1d_18
    except Exception as exc:   # CPU builds of torch cannot import torchvision
        print(f"\ntorchvision comparison skipped: torchvision not importable ({type(exc).__name__})")
        return
    ours = zoo.create_model("r2plus1d_18", midplanes="torchvision", bn_eps=1e-5).eval().to(device)
    theirs = r2plus1d_18().eval().to(device)
    x = torch.randn(1, 3, 8, 112, 112, device=device)
    ratios = []
    with torch.inference_mode():
        for _ in range(repeats):   # interleaved, so machine noise hits both alike
            t_ours = time_call(lambda: ours(x), device, 1)
            t_theirs = time_call(lambda: theirs(x), device, 1)
            ratios.append(t_theirs / t_ours)
    ratios.sort()
    print(f"\nr2plus1d_18 8x112 ours vs torchvision: {ratios[len(ratios) // 2]:.3f}x throughput "
          f"(median of {repeats} interleaved pairs; >= 1 means no slower)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="R(2+1)D-18 only, 3 repeats, no torch.compile (and no bf16 on CPU)")
    parser.add_argument("--configs", nargs="*", choices=list(CONFIGS), help="subset of configurations")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--no-bf16", action="store_true", help="skip bf16 autocast (very slow for Conv3d on CPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None, help="clips per forward pass (default: each config's, 1)")
    parser.add_argument("--compile-limit", type=float, default=None,
                        help="seconds torch.compile may take to compile a model (default: no limit)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    names = args.configs or (["r2plus1d_18@8x112"] if args.quick else list(CONFIGS))
    repeats = args.repeats or (3 if args.quick or device.type == "cpu" else 20)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    for label in names:
        arch, options, shape = CONFIGS[label]
        # bf16 Conv3d on CPU runs ~20-40x slower than fp32 (no fast kernel); skip it in --quick
        bench_config(label, arch, options, shape, device, repeats, with_compile=not (args.quick or args.no_compile),
                     with_bf16=not (args.no_bf16 or (args.quick and device.type == "cpu")), batch=args.batch,
                     compile_limit=args.compile_limit)
    bench_torchvision(device, repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
