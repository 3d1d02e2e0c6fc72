"""Memory budget helpers: sizes, OOM detection, chunk halving, peak measurement, OOM inside a run."""
import pytest
import torch
from torch import nn

from evaluate_helpers import BrightnessModel
from zoo.data.datasets import discover
from zoo.data.views import ViewSpec
from zoo.evaluate import TorchPredictor, evaluate
from zoo.evaluate.memory import (ChunkRunner, MemoryMeter, ViewsOutOfMemory, chunk_size_for_budget, is_oom,
                                 parse_size, probe_view_cost)

SPEC = ViewSpec(clip_len=4, sampling_rate=1, num_clips=4, num_crops=1, resize=32, crop_size=32)


class OomAbove(nn.Module):
    """Wraps a model and raises an out-of-memory error for batches larger than ``limit`` views."""

    def __init__(self, inner, limit, kind="cuda"):
        super().__init__()
        self.inner, self.limit, self.kind, self.calls = inner, limit, kind, []

    def forward(self, x):
        self.calls.append(x.shape[0])
        if x.shape[0] > self.limit:
            if self.kind == "cuda":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 123456789 bytes. Error code 12 (Cannot allocate memory)")
        return self.inner(x)


def test_parse_size():
    assert parse_size("8GiB") == 8 * 1024 ** 3
    assert parse_size("512M") == 512 * 1024 ** 2
    assert parse_size("1.5g") == int(1.5 * 1024 ** 3)
    assert parse_size("2000") == 2000
    with pytest.raises(ValueError, match="cannot read memory size"):
        parse_size("lots")


def test_is_oom():
    assert is_oom(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 bytes"))
    assert not is_oom(RuntimeError("shape mismatch"))
    assert not is_oom(ValueError("bad"))


@pytest.mark.parametrize("kind", ["cuda", "cpu"])
def test_chunk_runner_halves_on_oom_and_keeps_results(kind):
    fn = OomAbove(nn.Identity(), limit=3, kind=kind)
    runner = ChunkRunner(lambda x: fn(x.float()).sum(dim=(1, 2)), chunk_size=16, device="cpu")
    x = torch.arange(10 * 2 * 3, dtype=torch.uint8).reshape(10, 2, 3)
    out = runner(x)
    assert torch.equal(out, x.float().sum(dim=(1, 2)))
    assert runner.chunk_size == 2 and runner.oom_count == 2    # 10 -> 5 -> 2 (16 capped at 10 first)
    assert fn.calls == [10, 5, 2, 2, 2, 2, 2]
    runner(x)                                                  # the smaller size persists
    assert max(fn.calls[4:]) == 2


def test_chunk_runner_gives_up_at_one_view():
    fn = OomAbove(nn.Identity(), limit=0)
    with pytest.raises(ViewsOutOfMemory, match="one view does not fit"):
        ChunkRunner(fn, chunk_size=4, device="cpu")(torch.zeros(4, 2))


def test_meter_sees_allocation_and_probe():
    meter = MemoryMeter("cpu")
    if not meter.available:
        pytest.fail("peak RSS is measurable on Linux (/proc/self/status)")
    meter.reset()
    block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB touched
    assert meter.peak() >= 48 * 1024 * 1024
    del block
    # 8 MiB of output activation per view: large enough that reuse of freed pages cannot hide it
    views = torch.zeros(2, 8, 64, 64, 3, dtype=torch.uint8)
    big = nn.Conv3d(3, 64, 3, padding=1)
    with torch.no_grad():
        fixed, per_view = probe_view_cost(lambda v: big(v.float().movedim(-1, 1)), views, meter)
    assert per_view >= 8 * 64 * 64 * 64 * 4 // 2    # at least about one output activation per view
    assert chunk_size_for_budget(10 * per_view + fixed, fixed, per_view, safety=1.0) == 10
    assert chunk_size_for_budget(0, fixed, per_view) == 1


@pytest.mark.parametrize("large", [False, True])
def test_oom_during_run_is_halved_not_fatal(known_dataset, large):
    samples, classes = discover(known_dataset, split="val")
    samples = samples[:3]
    reference = evaluate(TorchPredictor(BrightnessModel(), [0] * 3, [1] * 3), samples, classes, SPEC,
                         progress=False, log=lambda m: None)
    flaky = OomAbove(BrightnessModel(), limit=3)
    result = evaluate(TorchPredictor(flaky, [0] * 3, [1] * 3), samples, classes, SPEC, large=large,
                      max_memory=1 << 40, videos_per_batch=2, progress=False, log=lambda m: None)
    assert max(flaky.calls) > 3 and flaky.calls[-1] <= 3          # it did hit OOM, then ran smaller chunks
    assert result["num_videos"] == 3 and result["num_skipped"] == 0
    for key in ("clip_top1", "video_top1", "confusion_matrix"):
        assert result[key] == reference[key]


def test_video_that_never_fits_is_skipped(known_dataset):
    samples, classes = discover(known_dataset, split="val")
    hopeless = evaluate(TorchPredictor(OomAbove(BrightnessModel(), limit=0), [0] * 3, [1] * 3), samples[:2],
                        classes, SPEC, large=True, max_memory=1 << 40, progress=False, log=lambda m: None)
    assert hopeless["num_videos"] == 0 and hopeless["num_skipped"] == 2
    assert all(s["reason"].startswith("out_of_memory") for s in hopeless["skipped"])


class FakeMeter:
    """Peaks of a model needing ``fixed`` + ``per_view`` bytes per view; ``exact`` as the meter says."""

    def __init__(self, exact, fixed, per_view):
        self.exact, self.fixed, self.per_view = exact, fixed, per_view
        self.device, self.views = torch.device("cpu"), 0

    def reset(self):
        self.views = 0

    def peak(self):
        return self.fixed + self.views * self.per_view


@pytest.mark.parametrize("exact, chunk", [(True, 23), (False, 12)])
def test_per_view_floor_only_for_figures_that_are_not_exact(exact, chunk):
    # 4 GiB fixed, 2 GiB per view, a 60 GiB budget: the CUDA allocator's exact peaks fit 23 views; the floor
    # written for resident-set figures (a view costs at least half the 2-view peak) would allow only 12
    gib = 1 << 30
    meter = FakeMeter(exact, 4 * gib, 2 * gib)

    def run(views):
        meter.views = views.shape[0]
        return views

    fixed, per_view = probe_view_cost(run, torch.zeros(2, 1), meter)
    assert chunk_size_for_budget(60 * gib, fixed, per_view) == chunk


@pytest.mark.parametrize("exact", [True, False])
def test_a_view_costs_at_least_its_float_input(exact):
    # a meter that sees nothing (peak RSS that did not move: the pages were reused) must not make a view free
    meter = FakeMeter(exact, 0, 0)
    views = torch.zeros(2, 4, 32, 32, 3, dtype=torch.uint8)
    fixed, per_view = probe_view_cost(lambda v: v, views, meter)
    assert (fixed, per_view) == (0, 4 * 32 * 32 * 3 * 4)
    assert chunk_size_for_budget(256 * 1024, fixed, per_view) == 4


def test_only_the_cuda_allocator_is_exact(monkeypatch):
    assert not MemoryMeter("cpu").exact
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (6, 10))
    assert MemoryMeter("cuda:0").exact
    device_wide = MemoryMeter("cuda:0", source="device")
    assert not device_wide.exact and device_wide.baseline == 4
