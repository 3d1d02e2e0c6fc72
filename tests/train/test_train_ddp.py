"""Real learning under DDP: two torchrun "nodes" on 127.0.0.1 (c10d rendezvous, gloo, CPU sync-BN)."""
import datetime
import json
import os
import subprocess
import sys

import torch.distributed as dist

import zoo
from zoo.data.synthetic import generate


def test_two_node_ddp_training_learns_the_motion_classes(tmp_path):
    data = generate(tmp_path / "data", classes=4, videos_per_class=12, val_videos_per_class=6, seed=0)
    out = tmp_path / "out"
    # The test hosts the rendezvous store on a port the kernel picks and holds it until the end; both "nodes"
    # join it as clients (is_host=false), so no port is chosen first and bound later by someone else.
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, multi_tenant=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=600))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
                "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{store.port}", "--rdzv-conf=is_host=false",
                "--rdzv-id=zoo-train-test",
                "--max-restarts=0", "-m", "zoo.train"]
    train = ["--data-path", str(data), "--output-dir", str(out), "--model", "r2plus1d_10",
             "--model-option", "channel_multiplier=0.125", "--clip-len", "4", "--frame-rate", "0",
             "--train-scale-jitter", "40", "48", "--train-crop-size", "40", "--val-resize-size", "40",
             "--val-crop-size", "40", "--val-clips-per-video", "3", "-b", "4", "--epochs", "6",
             "--clips-per-video", "4", "--lr", "0.1", "--lr-warmup-epochs", "0.5", "--lr-scheduler", "cosine",
             "--sync-bn", "--cache-dataset", "--cache-dir", str(tmp_path / "cache"), "--eval-every", "0",
             "-j", "1", "--seed", "0", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    nodes = [subprocess.Popen(launcher + train, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, text in zip(nodes, outputs):
        assert node.returncode == 0, text

    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(6)) and {r["processes"] for r in rows} == {2}
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # 24 validation videos, chance 0.25. The result is not bit-repeatable: the c10d rendezvous gives rank 0 to
    # whichever node arrives first, and each rank seeds its own augmentations (the synthetic videos are the same on
    # every run). Measured over 6 runs: 0.875 to 1.0. 0.75 still means the motion classes were learned.
    assert rows[-1]["val_video_acc1"] >= 0.75, rows[-1]
    best = zoo.load_checkpoint(out / "best.safetensors")
    assert best.zoo_meta["classes"] == sorted(["still", "up", "down", "sideways"])
    assert best.zoo_meta["training"]["val"]["video_top1"] >= 0.75
