"""bf16 training on CPU computes the gradients float32 computes (torch 2.13's oneDNN bf16 Conv3d does not)."""
import torch
import torch.nn.functional as F

import zoo
from zoo.train.amp import bf16_cpu_guard

CPU = torch.device("cpu")


def _grads(model, x, labels, dtype):
    model.zero_grad()
    with bf16_cpu_guard(CPU, dtype):
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = F.cross_entropy(model(x).float(), labels)
        loss.backward()
    return torch.cat([p.grad.flatten().float() for p in model.parameters()])


def test_conv3d_weight_gradient_with_temporal_padding_past_a_short_clip():
    torch.manual_seed(0)
    for frames, kernel, pad in [(2, 3, 1), (2, 5, 2), (4, 5, 2)]:
        conv = torch.nn.Conv3d(36, 16, (kernel, 1, 1), padding=(pad, 0, 0), bias=False)
        x = torch.randn(2, 36, frames, 8, 8)
        conv(x).sum().backward()
        reference = conv.weight.grad.clone()
        for _ in range(4):  # the broken kernel gives a different wrong answer on each call
            conv.zero_grad()
            with bf16_cpu_guard(CPU, torch.bfloat16), torch.autocast("cpu", dtype=torch.bfloat16):
                conv(x).float().sum().backward()
            error = (conv.weight.grad - reference).abs().max() / reference.abs().max()
            assert error < 0.02, (frames, kernel, float(error))


def test_bf16_step_of_a_short_clip_model_matches_float32():
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125).train()
    x, labels = torch.randn(2, 3, 4, 32, 32), torch.tensor([0, 1])  # 4 frames: 2 in layer2, 1 after
    reference = _grads(model, x, labels, None)
    for _ in range(3):
        grads = _grads(model, x, labels, torch.bfloat16)
        assert torch.isfinite(grads).all()
        # bf16 rounding alone moves this small, random-init gradient by ~40% of its norm (measured with
        # oneDNN off at 4, 8 and 16 frames); the broken kernel gives 1e36, inf or NaN
        assert 0.5 < grads.norm() / reference.norm() < 2
        assert F.cosine_similarity(grads, reference, dim=0) > 0.8


def test_the_guard_leaves_other_cases_alone():
    assert torch.backends.mkldnn.enabled
    with bf16_cpu_guard(CPU, torch.float16), bf16_cpu_guard(CPU, None), bf16_cpu_guard(torch.device("cuda"), torch.bfloat16):
        assert torch.backends.mkldnn.enabled
    with bf16_cpu_guard(CPU, torch.bfloat16):
        assert not torch.backends.mkldnn.enabled
    assert torch.backends.mkldnn.enabled
