"""Two gloo ranks (torch.multiprocessing.spawn) share the videos without duplicates; rank 0 reports."""
import json
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

from evaluate_helpers import BrightnessModel
from zoo.data.datasets import discover
from zoo.data.views import ViewSpec
from zoo.evaluate import TorchPredictor, evaluate
from zoo.distributed import shard

SPEC = ViewSpec(clip_len=4, sampling_rate=1, num_clips=4, num_crops=1, resize=32, crop_size=32)


def _rank_main(rank, world, init_file, data_root, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        samples, classes = discover(data_root, split="val")
        calls = []
        predictor = TorchPredictor(BrightnessModel(), [0.0] * 3, [1.0] * 3)
        metrics = evaluate(lambda v: (calls.append(v.shape[0]), predictor(v))[1], samples, classes, SPEC,
                           output=out_dir, videos_per_batch=2, progress=False, log=lambda m: None)
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"views": sum(calls), "metrics": metrics}))
    finally:
        dist.destroy_process_group()


def test_shard_is_a_partition():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == items and sum(len(p) for p in parts) == 11


def test_two_ranks_no_duplicates(known_dataset, tmp_path):
    out = tmp_path / "out"
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), str(known_dataset), str(out)), nprocs=2, join=True)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[1]["metrics"] is None                                  # only rank 0 reports
    assert [r["views"] for r in ranks] == [3 * SPEC.num_views, 2 * SPEC.num_views]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert sorted(r["index"] for r in records) == list(range(5))      # every video exactly once
    assert {r["rank"] for r in records} == {0, 1}
    assert not list(out.glob("records-*.jsonl"))                        # per-rank logs merged
    samples, classes = discover(known_dataset, split="val")
    single = evaluate(TorchPredictor(BrightnessModel(), [0.0] * 3, [1.0] * 3), samples, classes, SPEC,
                      progress=False, log=lambda m: None)
    report = json.loads((out / "metrics.json").read_text())
    for key in ("num_videos", "clip_top1", "video_top1", "confusion_matrix"):
        assert report[key] == single[key] == ranks[0]["metrics"][key]
    assert report["world_size"] == 2
