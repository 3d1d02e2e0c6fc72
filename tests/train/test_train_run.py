"""Single-process runs: bf16 autocast on CPU end to end, outputs, --test-only, killed-and-resumed runs."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

import zoo
from zoo.data.datasets import discover
from zoo.train.cli import main, parse_config
from zoo.distributed import DistEnv
from zoo.train.loop import Trainer

from train_helpers import TINY


def test_bf16_run_writes_loadable_checkpoints_logs_and_plot(dataset_copy, tmp_path, capsys):
    samples, _ = discover(dataset_copy, "train")
    samples[3].path.write_bytes(b"broken video")
    out = tmp_path / "out"
    config = parse_config(["--data-path", str(dataset_copy), "--output-dir", str(out), *TINY, "--amp", "bf16",
                       "-b", "2", "--epochs", "1", "--clips-per-video", "1", "--lr", "0.05", "-j", "0",
                       "--colour-rule", "frame_tag"])
    trainer = Trainer(config, DistEnv())
    assert trainer.colour_rule == trainer.val_spec().colour_rule == "frame_tag"
    seen = []
    trainer.model.stem[0].register_forward_hook(lambda m, i, o: seen.append((m.training, o.dtype)))
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.fit() == 0

    assert (True, torch.bfloat16) in seen  # training forward ran under bf16 autocast
    assert (False, torch.float32) in seen  # validation (the evaluator) in float32
    row, = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert row["failed_videos"] == 1 and row["global_step"] == 3
    assert 0 <= row["val_video_acc1"] <= 1 and row["val_clip_acc1"] is not None
    assert f"skipped unreadable video {samples[3].path}" in capsys.readouterr().out
    assert (out / "log.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("last.safetensors", "epoch_000.safetensors", "best.safetensors"):
        model = zoo.load_checkpoint(out / name)
        meta = model.zoo_meta
        assert meta["classes"] == ["still", "up"] and meta["clip_len"] == 4 and meta["crop_size"] == 32
        assert meta["resize"] == [36, 48] and meta["provenance"]["tool"] == "zoo-train"
        assert (meta["colour_rule"], meta["resize_filter"], meta["crop_rule"]) == \
            ("frame_tag", "swscale_fast_bilinear", "caffe2")   # the rules its validation numbers were measured with
    final = zoo.load_checkpoint(out / "last.safetensors").state_dict()
    assert any(not torch.equal(final[k], initial[k]) for k in initial if k.endswith("weight"))

    assert main(["--data-path", str(dataset_copy), "--output-dir", str(out), *TINY, "--test-only"]) == 0
    printed = capsys.readouterr().out
    assert "video top-1 %" in printed
    assert json.loads((out / "test_metrics.json").read_text())["num_videos"] == 4
    # the colour rule of a starting checkpoint is kept; without one (or any) it is BT.601, as the released models
    fine = [*TINY, "--data-path", str(dataset_copy), "--output-dir", str(tmp_path / "again"), "-j", "0"]
    assert Trainer(parse_config([*fine, "--checkpoint", str(out / "last.safetensors")]), DistEnv()).colour_rule \
        == "frame_tag"
    assert Trainer(parse_config(fine), DistEnv()).colour_rule == "bt601"


RESUME_ARGS = [*TINY, "-b", "2", "--accum-steps", "2", "--clips-per-video", "4", "--epochs", "2", "--lr", "0.05",
               "--lr-warmup-epochs", "1", "--lr-milestones", "1", "--momentum", "0.9", "--val-split", "none",
               "--deterministic", "--checkpoint-every-steps", "2", "-j", "1", "--seed", "3"]


def _launch(data, out):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return subprocess.Popen([sys.executable, "-m", "zoo.train", "--data-path", str(data), "--output-dir", str(out),
                             *RESUME_ARGS], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _state_position(path: Path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return None
    return state["epoch"], state["step_in_epoch"]


def _kill_mid_epoch(proc, out: Path, epoch: int, victim) -> tuple[int, int] | None:
    """SIGKILL ``victim()`` (a pid) as soon as ``out/last.pt`` is a checkpoint taken inside ``epoch``."""
    position, deadline, seen_mtime = None, time.time() + 240, None
    while time.time() < deadline and proc.poll() is None:
        state = out / "last.pt"
        if state.exists() and state.stat().st_mtime_ns != seen_mtime:
            seen_mtime = state.stat().st_mtime_ns
            position = _state_position(state)
            if position is not None and position[0] == epoch and position[1] > 0:
                os.kill(victim(), signal.SIGKILL)
                return position
        time.sleep(0.02)
    return None


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return sorted(kids)


def test_sigkilled_run_restarted_with_the_same_command_matches_an_uninterrupted_one(small_dataset, tmp_path):
    reference = _launch(small_dataset, tmp_path / "ref")
    interrupted = tmp_path / "killed"
    proc = _launch(small_dataset, interrupted)
    position = _kill_mid_epoch(proc, interrupted, 1, lambda: proc.pid)  # mid-way through epoch 2
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed mid-epoch:\n{output}"
    assert position[1] < 6  # 6 optimizer steps per epoch

    resumed = _launch(small_dataset, interrupted)
    resumed_out = resumed.communicate(timeout=240)[0]
    assert resumed.returncode == 0, resumed_out
    assert "resumed from" in resumed_out and "at epoch 2" in resumed_out
    ref_out = reference.communicate(timeout=240)[0]
    assert reference.returncode == 0, ref_out

    a = zoo.load_checkpoint(tmp_path / "ref" / "last.safetensors").state_dict()
    b = zoo.load_checkpoint(interrupted / "last.safetensors").state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    rows = [[json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
            for d in (tmp_path / "ref", interrupted)]
    assert [r["epoch"] for r in rows[1]] == [0, 1]
    for key in ("train_loss", "train_clip_acc1", "lr", "global_step"):
        assert [r[key] for r in rows[0]] == [r[key] for r in rows[1]]


def test_torchrun_max_restarts_recovers_from_a_killed_worker(small_dataset, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--max-restarts=1",
           "-m", "zoo.train", "--data-path", str(small_dataset), "--output-dir", str(out), *TINY, "-b", "2",
           "--clips-per-video", "4", "--epochs", "2", "--lr", "0.05", "--checkpoint-every-steps", "1", "-j", "0",
           "--val-split", "none"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    position = _kill_mid_epoch(proc, out, 0, lambda: _children(proc.pid)[-1])  # one of the two workers
    output = proc.communicate(timeout=300)[0]
    assert position is not None, output
    assert proc.returncode == 0, output
    assert "exitcode: -9" in output and "resumed from" in output
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and rows[-1]["global_step"] == 12  # 24 clips / (2 x 2) x 2
