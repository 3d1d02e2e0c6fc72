"""Evaluation and extraction loaders pin their batches for a CUDA model (so ``non_blocking`` copies are
asynchronous), and only then. No GPU here: torch.accelerator says there is one and pinning is recorded."""
import torch

from zoo.data.datasets import discover
from zoo.evaluate import evaluate
from zoo.extract.windows_dataset import VideoJob
from zoo.extract.engine import extract_windows
from zoo.options import RunOptions
from zoo.extract.windows import WindowSpec
from test_onnx_devices import SPEC


def fake_accelerator(monkeypatch):
    pinned = []

    def pin_memory(self, *args, **kwargs):
        copy = self.clone()
        pinned.append(copy)            # kept alive: no later tensor can reuse its address
        return copy

    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *a, **k: torch.device("cuda"))
    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    return pinned


def logits_of(seen, pinned):
    def predictor(views):
        seen.append(any(views.data_ptr() == p.data_ptr() for p in pinned))
        return torch.zeros(views.shape[0], 3)
    return predictor


def test_evaluation_views_are_pinned_for_cuda_only(known_dataset, monkeypatch):
    pinned = fake_accelerator(monkeypatch)
    samples, classes = discover(known_dataset, split="val")
    for device, expected in (("cuda:0", True), ("cpu", False)):
        seen = []
        evaluate(logits_of(seen, pinned), samples[:2], classes, SPEC, videos_per_batch=1, device=device,
                 progress=False, log=lambda m: None)
        assert seen == [expected, expected], device


def test_extraction_windows_are_pinned_for_cuda_only(known_dataset, monkeypatch):
    pinned = fake_accelerator(monkeypatch)
    samples, _ = discover(known_dataset, split="val")
    spec = WindowSpec(SPEC, views=True)
    for device, expected in (("cuda:0", True), ("cpu", False)):
        seen = []
        extract_windows(logits_of(seen, pinned), lambda: [("logits", (3,))], [VideoJob(0, str(samples[0].path), "v")], spec,
                        lambda video: None, batch_windows=4, run=RunOptions.quiet(device=device))
        assert seen and all(s == expected for s in seen), device
