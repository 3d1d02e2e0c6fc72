"""Training data: deterministic clips, corrupt videos, metadata cache, bad datasets."""
import torch

from zoo.data.datasets import discover
from zoo.data.encode import encode_video
from zoo.data.views import TrainClipSpec
from zoo.train.cli import main, parse_config
from zoo.train.clips_dataset import TrainClipDataset, collate_clips
from zoo.distributed import DistEnv
from zoo.train.loop import Trainer
from zoo.train.sampler import ClipKey

from train_helpers import TINY

SPEC = TrainClipSpec(clip_len=4, scale_range=(36, 44), crop_size=32)


def test_clip_depends_only_on_its_key(small_dataset):
    samples, _ = discover(small_dataset, "train")
    dataset = TrainClipDataset(samples, SPEC)
    clip, label, failures, warned = dataset[ClipKey(2, 1234)]
    assert clip.shape == (4, 32, 32, 3) and clip.dtype == torch.uint8 and failures == [] and warned == []
    assert label == samples[2].label
    fresh = TrainClipDataset(samples, SPEC)
    assert torch.equal(fresh[ClipKey(2, 1234)][0], clip)
    others = [fresh[ClipKey(2, seed)][0] for seed in range(5)]
    assert any(not torch.equal(o, clip) for o in others)  # other seeds: other starts/crops/flips


def test_corrupt_video_is_replaced_and_reported(dataset_copy):
    samples, _ = discover(dataset_copy, "train")
    bad = samples[0].path
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 garbage, not a video" * 10)
    batch = collate_clips([TrainClipDataset(samples, SPEC)[ClipKey(0, seed)] for seed in range(3)])
    assert batch.clips.shape == (3, 4, 32, 32, 3)
    assert len(batch.failures) >= 3 and {p for p, _ in batch.failures} == {str(bad)}


def _trainer(data, tmp_path, *extra):
    config = parse_config(["--data-path", str(data), "--output-dir", str(tmp_path / "out"), *TINY, *extra])
    return Trainer(config, DistEnv())


def test_cache_dataset_reuses_and_invalidates_metadata(dataset_copy, tmp_path, capsys):
    cache = tmp_path / "cache"
    first = _trainer(dataset_copy, tmp_path, "--cache-dataset", "--cache-dir", str(cache))
    video = first.train_samples[1].path
    before = first.infos[str(video)].num_frames
    assert len(first.infos) == len(first.train_samples) == 6
    assert list(cache.glob("*.json")), "the metadata index was not written to the cache dir"

    # a changed file is read again; a corrupt one is left out with a warning
    encode_video(video, torch.zeros(before + 7, 48, 64, 3, dtype=torch.uint8).numpy(), fps=10)
    first.train_samples[2].path.write_bytes(b"not a video at all")
    second = _trainer(dataset_copy, tmp_path, "--cache-dataset", "--cache-dir", str(cache))
    assert second.infos[str(video)].num_frames == before + 7
    assert len(second.train_samples) == 5
    out = capsys.readouterr().out
    assert "1 unusable training video(s) left out" in out and first.train_samples[2].path.name in out


def test_empty_dataset_and_class_mismatch_fail_before_training(tmp_path, small_dataset, capsys):
    empty = tmp_path / "empty"
    (empty / "train" / "some_class").mkdir(parents=True)
    assert main(["--data-path", str(empty), "--output-dir", str(tmp_path / "o1"), *TINY]) == 2
    assert "no videos found" in capsys.readouterr().err

    assert main(["--data-path", str(small_dataset), "--kinetics-version", "400",
                 "--output-dir", str(tmp_path / "o2"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "--kinetics-version 400" in err and "2 classes" in err

    assert main(["--data-path", str(small_dataset), "--num-classes", "5",
                 "--output-dir", str(tmp_path / "o3"), *TINY]) == 2
    assert "--num-classes 5" in capsys.readouterr().err
    assert not (tmp_path / "o1" / "last.pt").exists() and not (tmp_path / "o2" / "last.pt").exists()
