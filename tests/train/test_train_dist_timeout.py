"""Two gloo ranks: while rank 0 indexes the dataset (--cache-dataset) for longer than --dist-timeout, rank 1 waits
for it instead of timing out; an error of rank 0 there stops rank 1 with rank 0's message."""
import json
import os
import socket
import sys
import time
from pathlib import Path

import torch.multiprocessing as mp

from train_helpers import TINY

DIST_TIMEOUT_S = 4.0
SLOW_PROBE_S = 3 * DIST_TIMEOUT_S


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, data: str, out: str, port: int, fail: bool) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import zoo.data.index as index
    from zoo.distributed import init_distributed, shutdown
    from zoo.train.cli import parse_config
    from zoo.train.loop import Trainer

    real_build = index.build_index

    def slow_build(*args, **kwargs):      # rank 0's probe of a big dataset: far longer than --dist-timeout
        if fail:
            raise OSError("disk gone while probing")
        time.sleep(SLOW_PROBE_S)
        return real_build(*args, **kwargs)

    if rank == 0:
        index.build_index = slow_build
    folder = Path(out)
    (folder / f"ready-{rank}").touch()      # both processes have imported torch: start the clock together
    while not all((folder / f"ready-{r}").exists() for r in range(2)):
        time.sleep(0.05)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    args = parse_config(["--data-path", data, "--output-dir", str(folder / "run"), *TINY, "--device", "cpu",
                       "--cache-dataset", "--cache-dir", str(folder / "cache"), "--dist-timeout", str(DIST_TIMEOUT_S)])
    env = init_distributed("cpu", timeout_s=DIST_TIMEOUT_S)
    try:
        trainer = Trainer(args, env)
        result = {"videos": len(trainer.train_samples), "infos": len(trainer.infos)}
    except Exception as exc:        # noqa: BLE001 - reported to the test
        result = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutdown()
    (folder / f"rank{rank}.json").write_text(json.dumps(result))


def _run(small_dataset, tmp_path, fail):
    mp.start_processes(_rank_main, args=(str(small_dataset), str(tmp_path), _free_port(), fail), nprocs=2,
                       start_method="spawn")
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


def test_other_ranks_wait_for_rank0_indexing_past_the_dist_timeout(small_dataset, tmp_path):
    results = _run(small_dataset, tmp_path, fail=False)
    assert results == [{"videos": 6, "infos": 6}] * 2


def test_an_indexing_error_of_rank0_reaches_the_other_ranks(small_dataset, tmp_path):
    results = _run(small_dataset, tmp_path, fail=True)
    assert results[0] == {"error": "OSError: disk gone while probing"}
    assert results[1]["error"] == "RuntimeError: rank 0 failed: OSError: disk gone while probing"
