"""GPU set-ups that fail late on a real machine are refused at the start, tested without a GPU by
monkeypatching torch.cuda: --amp bf16 on a GPU without bfloat16, and more local ranks than visible GPUs."""
import pytest
import torch

from zoo.amp import check_amp
from zoo.errors import UsageError
from zoo.distributed import pick_device


@pytest.fixture
def gpus(monkeypatch):
    """Two visible GPUs without bfloat16 (V100s); set_device records its argument."""
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Tesla V100-SXM2-16GB")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    return chosen


def test_each_local_rank_gets_its_own_gpu_or_a_usage_error(gpus, monkeypatch):
    assert pick_device("cuda", 1) == torch.device("cuda", 1) and gpus == [torch.device("cuda", 1)]
    assert pick_device("auto", 0) == torch.device("cuda", 0)
    assert pick_device("cuda:1", 5) == torch.device("cuda", 1)          # an explicit device is taken as given
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    for requested in ("cuda", "auto"):
        with pytest.raises(UsageError, match=r"local rank 2 has no GPU of its own: 2 visible \(CUDA_VISIBLE_DEVICES=0,1\)"):
            pick_device(requested, 2)                    # used to be cuda:0 again, shared until NCCL failed


def test_bf16_on_a_gpu_without_it_is_a_usage_error(gpus):
    # is_bf16_supported() says True on a V100 (emulation); autocast then fails at the first step
    with pytest.raises(UsageError, match=r"--amp bf16: Tesla V100-SXM2-16GB \(cuda:1\) has no bfloat16 support; "
                                         r"use --amp fp16"):
        check_amp("bf16", "cuda:1")
    check_amp("fp16", "cuda:1")
    check_amp(None, "cuda:1")
    check_amp("bf16", "cpu")


def test_predictors_and_zoo_train_refuse_bf16_there(gpus, capsys):
    from zoo.evaluate.predictors import TorchPredictor
    from zoo.train.cli import main

    with pytest.raises(UsageError, match="no bfloat16"):
        TorchPredictor(torch.nn.Identity(), [0.5] * 3, [0.5] * 3, device="cuda:0", amp="bf16")
    assert main(["--device", "cuda", "--amp", "bf16", "--no-resume", "--output-dir", "unused"]) == 2
    assert "zoo-train: error: --amp bf16: Tesla V100-SXM2-16GB (cuda) has no bfloat16 support" in capsys.readouterr().err
