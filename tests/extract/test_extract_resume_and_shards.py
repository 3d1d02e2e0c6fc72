"""kill -9 mid-run then re-run: identical arrays, nothing half-written, nothing redone; two gloo ranks write the
same files as one process and rank 0 merges the index."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch.distributed as dist
import torch.multiprocessing as mp

from extract_helpers import read_features, write_cfr

ROOT = Path(__file__).resolve().parents[2]


def cli(data, checkpoint, out, *extra):
    return [sys.executable, "-m", "zoo.extract", "--data-path", str(data), "--checkpoint", str(checkpoint),
            "--output", str(out), "--window", "4", "--stride", "2", "--batch-windows", "1", "--workers", "0", "-q",
            *extra]


def finished(out):
    """Feature files under their final names (temporary files start with a dot)."""
    return sorted(p for p in out.rglob("*.safetensors") if not p.name.startswith("."))


def arrays(out):
    return {p.relative_to(out).as_posix(): read_features(p) for p in finished(out)}


def test_kill_mid_run_then_rerun(checkpoint, tmp_path):
    data = tmp_path / "data"
    for k in range(6):
        write_cfr(data / f"c{k % 2}/v{k}.mp4", 20, 30, seed=k)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    reference = tmp_path / "reference"
    subprocess.run(cli(data, checkpoint, reference), check=True, env=env, capture_output=True)

    out = tmp_path / "feats"
    proc = subprocess.Popen(cli(data, checkpoint, out), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not finished(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    survivors = {p: p.stat().st_ino for p in finished(out)}
    assert 1 <= len(survivors) < 6                                   # killed mid-run
    for path in survivors:                                           # whatever has its final name is whole
        np.testing.assert_array_equal(read_features(path)["pool5"],
                                      arrays(reference)[path.relative_to(out).as_posix()]["pool5"])

    rerun = subprocess.run(cli(data, checkpoint, out), env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(survivors)} videos already done, {6 - len(survivors)} to go" in rerun.stderr
    for path, inode in survivors.items():                            # done videos were not recomputed
        assert path.stat().st_ino == inode
    assert not [p for p in out.rglob(".*")]                          # no temporary file left behind
    got, want = arrays(out), arrays(reference)
    assert sorted(got) == sorted(want) and len(got) == 6
    for name in want:
        for key in ("pool5", "window_start", "window_end"):
            np.testing.assert_array_equal(got[name][key], want[name][key])
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok"] * 6 and [r["index"] for r in rows] == list(range(6))


def _rank_main(rank, world, init_file, data, checkpoint, out):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from zoo.extract.cli import main

        code = main(["--data-path", str(data), "--checkpoint", str(checkpoint), "--output", str(out),
                     "--window", "4", "--stride", "3", "--layers", "pool5,logits", "--workers", "0", "-q",
                     "--device", "cpu"])
        Path(out, f".rank{rank}.json").write_text(json.dumps({"code": code}))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_gloo_ranks_write_the_same_files_as_one_process(dataset, checkpoint, tmp_path):
    from zoo.extract.cli import main

    data = dataset / "val"
    single = tmp_path / "single"
    assert main(["--data-path", str(data), "--checkpoint", str(checkpoint), "--output", str(single), "--window",
                 "4", "--stride", "3", "--layers", "pool5,logits", "--workers", "0", "-q"]) == 0
    sharded = tmp_path / "sharded"
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), data, checkpoint, sharded), nprocs=2, join=True)
    assert [json.loads((sharded / f".rank{r}.json").read_text())["code"] for r in range(2)] == [0, 0]
    got, want = arrays(sharded), arrays(single)
    assert sorted(got) == sorted(want) and len(want) == 4
    for name in want:
        for key, value in want[name].items():
            np.testing.assert_allclose(got[name][key], value, rtol=1e-5, atol=1e-6)
    rows = [json.loads(line) for line in (sharded / "index.jsonl").read_text().splitlines()]
    single_rows = [json.loads(line) for line in (single / "index.jsonl").read_text().splitlines()]
    assert rows == single_rows                                       # rank 0 merged every rank's videos
