"""The distributed, resumable clip sampler."""
from collections import Counter

import pytest

from zoo.train.sampler import ClipSampler


def test_ranks_share_an_epoch_without_overlap_and_every_clip_is_drawn():
    shards = [list(ClipSampler(10, clips_per_video=3, seed=1, rank=r, world_size=4)) for r in range(4)]
    assert {len(s) for s in shards} == {8}  # 30 items padded to 32, dealt round-robin
    keys = [k for shard in shards for k in shard]
    counts = Counter(k.video_index for k in keys)
    assert set(counts) == set(range(10)) and all(c >= 3 for c in counts.values())
    assert len({k.seed for k in keys}) == 30  # the 2 padding items repeat existing items


def test_new_order_and_clip_seeds_every_epoch_and_reproducible():
    sampler = ClipSampler(6, clips_per_video=2, seed=0)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert {k.seed for k in first}.isdisjoint({k.seed for k in second})
    assert [k.video_index for k in first] != [k.video_index for k in second]
    again = ClipSampler(6, clips_per_video=2, seed=0)
    again.set_epoch(1)
    assert list(again) == second
    assert list(ClipSampler(6, clips_per_video=2, seed=5)) != first


def test_resume_position_yields_the_rest_of_the_epoch():
    sampler = ClipSampler(7, clips_per_video=2, seed=3, rank=1, world_size=2)
    sampler.set_epoch(4)
    full = list(sampler)
    sampler.set_epoch(4, start=5)
    assert len(sampler) == len(full) - 5
    assert list(sampler) == full[5:]
    with pytest.raises(ValueError, match="outside"):
        sampler.set_epoch(4, start=len(full) + 1)


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ClipSampler(0)
