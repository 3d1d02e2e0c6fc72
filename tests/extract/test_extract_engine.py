"""The engine batches windows of several videos into one forward pass and gives the same arrays with decoding
workers as in-process."""
import numpy as np

import zoo
from zoo.data.views import ViewSpec
from zoo.extract import LayerTap, VideoJob, WindowSpec, extract_windows
from zoo.evaluate.predictors import TorchPredictor
from zoo.options import RunOptions


def run(model, jobs, workers=0, **options):
    tap = LayerTap(model, ["pool5", "layer2"])
    predictor = TorchPredictor(tap, model.zoo_meta["mean"], model.zoo_meta["std"])
    spec = WindowSpec(ViewSpec(clip_len=4, num_clips=1, resize=32, crop_size=32), stride=6)
    results = {}
    stats = extract_windows(predictor, lambda: tap.layout, jobs, spec, lambda r: results.__setitem__(r.job.index, r),
                            run=RunOptions.quiet(workers=workers), **options)
    tap.remove()
    return results, stats


def test_windows_of_several_videos_share_a_forward_pass(dataset, checkpoint):
    model = zoo.load_checkpoint(checkpoint).eval()
    jobs = [VideoJob(i, str(p), p.stem) for i, p in enumerate(sorted((dataset / "val").rglob("*.mp4")))]
    calls = []
    handle = model.stem.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        together, stats = run(model, jobs, batch_windows=64, windows_per_chunk=4)
        batched = list(calls)
        calls.clear()
        alone, _ = run(model, jobs, batch_windows=1)
    finally:
        handle.remove()
    total = sum(r.num_windows for r in together.values())
    assert batched == [total] and stats.windows == total and stats.videos == len(jobs)   # one pass for all
    assert calls == [1] * total
    for index, result in alone.items():
        for layer in ("pool5", "layer2"):
            np.testing.assert_allclose(together[index].features[layer], result.features[layer], rtol=1e-5,
                                       atol=1e-6)


def test_decoding_workers_give_the_same_arrays(dataset, checkpoint):
    model = zoo.load_checkpoint(checkpoint).eval()
    jobs = [VideoJob(i, str(p), p.stem) for i, p in enumerate(sorted((dataset / "val").rglob("*.mp4")))]
    jobs.append(VideoJob(len(jobs), str(dataset / "val/missing.mp4"), "missing"))
    inline, _ = run(model, jobs, batch_windows=4)
    workers, stats = run(model, jobs, batch_windows=4, workers=2, windows_per_chunk=2)
    assert stats.failed == 1 and workers[len(jobs) - 1].error.startswith("missing")
    for index, result in inline.items():
        if result.error is None:
            np.testing.assert_allclose(workers[index].features["pool5"], result.features["pool5"], rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_array_equal(workers[index].start, result.start)
