"""``--help`` of every console tool: wall time of a fresh interpreter printing the help, against the same with torch
imported first (what every tool did before the parsers stopped importing torch), measured in the same run.

    python bench/cli_help.py [--repeat 5]

Prints per tool the median seconds now, the median with torch imported up front (the old behaviour), their ratio,
and a bare ``python -c pass`` for scale. Target: under 0.5 s per tool on an idle machine.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _seconds(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _help_code(target: str, preload: str = "") -> str:
    module, func = target.split(":")
    return (f"{preload}from {module} import {func} as main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            "    pass\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    args = parser.parse_args()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    floor = _seconds("pass", args.repeat)
    print(f"python -c pass: {floor:.3f} s (median of {args.repeat})")
    print(f"{'tool':<13} {'--help (s)':>10} {'torch first (s)':>16} {'ratio':>7}")
    for name, target in sorted(scripts.items()):
        now = _seconds(_help_code(target), args.repeat)
        before = _seconds(_help_code(target, "import torch\n"), args.repeat)
        print(f"{name:<13} {now:>10.3f} {before:>16.3f} {now / before:>7.2f}")


if __name__ == "__main__":
    main()
