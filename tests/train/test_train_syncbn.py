"""--sync-bn on CPU: 2 gloo processes give the statistics and gradients of one BatchNorm on the whole batch."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from zoo.train.syncbn import CPUSyncBatchNorm, convert_sync_batchnorm


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 3, 2, 4, 5, generator=g) * 3 + 1, torch.randn(6, 3, 2, 4, 5, generator=g)


def _worker(rank: int, out_dir: str) -> None:
    # a file rendezvous: no TCP port is chosen before use
    init = "file://" + os.path.join(out_dir, "rendezvous")
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    torch.manual_seed(0)
    bn = convert_sync_batchnorm(nn.Sequential(nn.BatchNorm3d(3)), torch.device("cpu"))
    with torch.no_grad():
        bn[0].weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn[0].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x, grad = _batch()
    part = slice(rank * 3, rank * 3 + 3)  # rank 0 gets items 0-2, rank 1 items 3-5
    xs = x[part].clone().requires_grad_(True)
    y = bn(xs)
    y.backward(grad[part])
    torch.save({"y": y.detach(), "dx": xs.grad, "dw": bn[0].weight.grad, "db": bn[0].bias.grad,
                "mean": bn[0].running_mean, "var": bn[0].running_var}, os.path.join(out_dir, f"{rank}.pt"))
    dist.destroy_process_group()


def test_conversion_keeps_weights_and_names():
    import zoo  # imported here: the spawned workers of the other test need only torch

    model = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125)
    with torch.no_grad():
        model.stem[1].running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    converted = convert_sync_batchnorm(model, torch.device("cpu"))
    assert any(isinstance(m, CPUSyncBatchNorm) for m in converted.modules())
    assert not any(type(m) is nn.BatchNorm3d for m in converted.modules())
    after = converted.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(after[k], before[k]) for k in before)
    # without a process group it is an ordinary BatchNorm
    x = torch.randn(2, 3, 4, 16, 16)
    reference = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125)
    reference.load_state_dict(before)
    assert torch.allclose(converted.train()(x), reference.train()(x), atol=1e-5)


def test_two_gloo_processes_match_batchnorm_on_the_full_batch(tmp_path):
    mp.start_processes(_worker, args=(str(tmp_path),), nprocs=2, start_method="spawn")
    ref = nn.BatchNorm3d(3)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        ref.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x, grad = _batch()
    x.requires_grad_(True)
    y = ref(x)
    y.backward(grad)
    parts = [torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in range(2)]
    assert torch.allclose(torch.cat([p["y"] for p in parts]), y.detach(), atol=1e-5)
    assert torch.allclose(torch.cat([p["dx"] for p in parts]), x.grad, atol=1e-5)
    for p in parts:  # DDP averages the parameter gradients; each rank holds its part of the sum
        assert torch.allclose(p["mean"], ref.running_mean, atol=1e-6)
        assert torch.allclose(p["var"], ref.running_var, atol=1e-5)
    assert torch.allclose(parts[0]["dw"] + parts[1]["dw"], ref.weight.grad, atol=1e-4)
    assert torch.allclose(parts[0]["db"] + parts[1]["db"], ref.bias.grad, atol=1e-4)
