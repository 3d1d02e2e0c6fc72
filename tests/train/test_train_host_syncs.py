"""Training steps do not wait for the device: running sums stay on it and the loss is read every
``loss_check_every`` steps; a diverging loss is still stopped there, named by epoch and step, before any
checkpoint. Host reads are counted on CPU tensors (each one is a wait for the GPU on CUDA)."""
import pytest
import torch

from zoo.distributed import DistEnv
from zoo.train.cli import parse_config
from zoo.train.loop import Trainer, TrainingDiverged

from train_helpers import TINY

ARGS = [*TINY, "-b", "2", "--clips-per-video", "2", "--epochs", "1", "--lr", "0.01", "--val-split", "none",
        "-j", "0"]
READS = ("item", "tolist", "__float__", "__bool__", "__int__")


def _trainer(data, tmp_path, *extra):
    return Trainer(parse_config(["--data-path", str(data), "--output-dir", str(tmp_path / "out"), *ARGS, *extra]),
                   DistEnv())


def test_a_step_reads_nothing_back_from_the_device(small_dataset, tmp_path, monkeypatch):
    trainer = _trainer(small_dataset, tmp_path)
    trainer.loss_check_every = 3
    reads = []
    inside = {"step": False}
    real_step = trainer._forward_backward

    def counted_step(*args, **kwargs):       # count only what the training step itself reads
        inside["step"] = True
        try:
            return real_step(*args, **kwargs)
        finally:
            inside["step"] = False

    for name in READS:
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            if inside["step"]:
                reads.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    trainer._forward_backward = counted_step
    checks = []
    real_check = trainer.check_losses
    trainer.check_losses = lambda: checks.append(len(trainer.pending_losses)) or real_check()
    assert trainer.fit() == 0
    assert trainer.steps_per_epoch == 6
    assert reads == []                    # used to be four per micro-batch (loss, hits, counters, isfinite)
    assert [c for c in checks if c] == [3, 3]    # the losses read twice in 6 steps, three at a time
    assert trainer.sums.device == trainer.device


def test_a_diverging_loss_is_reported_with_its_epoch_and_step_before_a_checkpoint(small_dataset, tmp_path):
    trainer = _trainer(small_dataset, tmp_path, "--checkpoint-every-steps", "4")
    trainer.loss_check_every = 20
    calls = []

    def diverge(module, inputs, output):   # the 3rd training step's logits blow up
        calls.append(module.training)
        return output * float("nan") if sum(calls) == 3 and module.training else output

    trainer.model.fc.register_forward_hook(diverge)
    with pytest.raises(TrainingDiverged, match=r"the loss is nan at epoch 1, step 3 \(global step 2\); lower --lr"):
        trainer.fit()
    assert not (tmp_path / "out" / "last.pt").exists()      # caught at the step-4 checkpoint, before writing it
