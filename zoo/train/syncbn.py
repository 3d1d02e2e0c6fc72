"""``--sync-bn``: batch statistics computed over the whole distributed batch.

On CUDA this is ``torch.nn.SyncBatchNorm``. PyTorch's SyncBatchNorm refuses CPU tensors, so on CPU (gloo) the
BatchNorm layers become :class:`CPUSyncBatchNorm`, which all-reduces the per-channel sum, sum of squares and
count with a differentiable all-reduce (:class:`AllReduceSum`: gradients flow through the global statistics
exactly as in SyncBatchNorm). The parameter and buffer names stay those of BatchNorm, so
checkpoints are unchanged.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn


class AllReduceSum(torch.autograd.Function):
    """Sum over the default process group whose backward sums the incoming gradients the same way."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over any input rank whose training statistics are reduced over the default process group."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        sync = (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)
        if not sync:
            return super().forward(input)
        self._check_input_dim(input)
        dims = [0] + list(range(2, input.dim()))
        x = input.float()
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float32)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        stats = AllReduceSum.apply(stats)
        channels = x.shape[1]
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels:2 * channels] / total - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                unbiased = var.detach() * (total / (total - 1)).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm layer of ``model`` by a synchronised one suited to ``device``'s backend."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert_cpu(model)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        sync = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        sync.load_state_dict(module.state_dict())
        sync.train(module.training)
        if module.affine:
            sync.weight.requires_grad_(module.weight.requires_grad)
            sync.bias.requires_grad_(module.bias.requires_grad)
        return sync
    for name, child in module.named_children():
        module.add_module(name, _convert_cpu(child))
    return module
