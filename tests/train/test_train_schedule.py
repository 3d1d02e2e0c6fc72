"""Learning-rate schedules against torch's own schedulers (the torchvision reference's construction)."""
import math

import pytest
import torch

from zoo.train.schedule import LRSchedule, build_scheduler


def _torch_reference(iters_per_epoch, warmup_epochs, method, decay, milestones, gamma, total):
    """torchvision references/video_classification/train.py: SequentialLR(warmup, MultiStepLR)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    warmup_iters = iters_per_epoch * warmup_epochs
    main = torch.optim.lr_scheduler.MultiStepLR(
        opt, milestones=[iters_per_epoch * (m - warmup_epochs) for m in milestones], gamma=gamma)
    if method == "linear":
        warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=decay, total_iters=warmup_iters)
    else:
        warm = torch.optim.lr_scheduler.ConstantLR(opt, factor=decay, total_iters=warmup_iters)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, schedulers=[warm, main], milestones=[warmup_iters])
    values = []
    for _ in range(total):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


@pytest.mark.parametrize("method", ["linear", "constant"])
def test_warmup_then_multistep_matches_torchvision_construction(method):
    ipe, warm, decay, milestones, gamma, epochs = 7, 3, 0.001, (5, 8), 0.1, 10
    expected = _torch_reference(ipe, warm, method, decay, milestones, gamma, ipe * epochs)
    schedule = LRSchedule(iters_per_epoch=ipe, epochs=epochs, warmup_epochs=warm, warmup_method=method,
                          warmup_decay=decay, milestones=milestones, gamma=gamma)
    got = [schedule(t) for t in range(ipe * epochs)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # spot values: start factor, end of warm-up, after each decay
    assert got[0] == pytest.approx(decay)
    assert got[ipe * warm] == pytest.approx(1.0)
    assert got[ipe * 5] == pytest.approx(0.1) and got[ipe * 8] == pytest.approx(0.01)
    if method == "linear":
        assert got[ipe * warm // 2] == pytest.approx(decay + (1 - decay) * (ipe * warm // 2) / (ipe * warm))
    else:
        assert got[ipe * warm - 1] == pytest.approx(decay)


def test_cosine_after_warmup_and_lambdalr_state_roundtrip():
    schedule = LRSchedule(iters_per_epoch=4, epochs=5, warmup_epochs=1, warmup_decay=0.1, scheduler="cosine")
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(4) == pytest.approx(1.0)
    assert schedule(12) == pytest.approx(0.5 * (1 + math.cos(math.pi * 8 / 16)))
    assert schedule(20) == pytest.approx(0.0, abs=1e-12)

    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": [params[0]], "lr": 0.2}, {"params": [params[1]], "lr": 0.02}], lr=0.2)
    sched = build_scheduler(opt, schedule)
    for _ in range(6):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2 * schedule(6), 0.02 * schedule(6)])
    # a fresh scheduler restored from the state continues with the same values
    opt2 = torch.optim.SGD([{"params": [params[0]], "lr": 0.2}, {"params": [params[1]], "lr": 0.02}], lr=0.2)
    sched2 = build_scheduler(opt2, schedule)
    sched2.load_state_dict(sched.state_dict())
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt2.param_groups] == pytest.approx([g["lr"] for g in opt.param_groups])


def test_bad_schedule_options_are_rejected():
    with pytest.raises(ValueError, match="warmup-method"):
        LRSchedule(iters_per_epoch=1, epochs=1, warmup_method="exp")
    with pytest.raises(ValueError, match="scheduler"):
        LRSchedule(iters_per_epoch=1, epochs=1, scheduler="poly")
