"""Caffe2's convolutional test head against a reference written from r3d_model.py / loss_creator.py."""
from __future__ import annotations

import pytest
import torch

import zoo
from zoo.evaluate import TorchPredictor
from zoo.aggregation import aggregate_views
from zoo.models.conv_head import convolutional_logits, pool_kernel, scores_from_positions

MEAN, STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


def _model(name="r3d_10", **kw):
    torch.manual_seed(0)
    model = zoo.create_model(name, num_classes=7, channel_multiplier=0.125, **kw).eval()
    with torch.no_grad():  # a classifier with some spread, so that the positions disagree
        model.fc.weight.mul_(40)
        model.fc.bias.normal_()
    return model


def caffe2_reference(model, x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Caffe2, step by step: AveragePool(kernel [T', k, k], stride 1) -> ConvNd 1x1x1 with the FC blobs ->
    Softmax (axis 1: the blob is read as (N, C*T*H*W)) -> ReduceBackMean over the last 3 axes."""
    fmap = model.forward_map(x)
    n, _, t, h, w = fmap.shape
    rows, cols = h - kernel + 1, w - kernel + 1
    out = torch.empty(n, model.fc.out_features, 1, rows, cols, dtype=torch.float64)
    for i in range(rows):
        for j in range(cols):
            pooled = fmap[:, :, :, i:i + kernel, j:j + kernel].double().mean(dim=(2, 3, 4))
            out[:, :, 0, i, j] = pooled @ model.fc.weight.double().T + model.fc.bias.double()
    softmax = torch.softmax(out.reshape(n, -1), dim=1).reshape(out.shape)
    return softmax.mean(dim=(2, 3, 4))


@torch.no_grad()
def test_convolutional_head_matches_caffe2_rule_on_a_2x2_map():
    model = _model()
    x = torch.randn(2, 3, 8, 128, 128)  # 112-trained model on 128 crops: 8x8 map, 7x7 pool -> 2x2
    assert pool_kernel(model.forward_map(x), (128, 128), 112) == (1, 7, 7)
    reference = caffe2_reference(model, x, 7)
    scores = convolutional_logits(model, x, 112)
    assert scores.shape == (2, 7)
    # Caffe2's vector sums to 1/P (P = 4 positions); its softmax-normalised form is the evaluator's view score
    torch.testing.assert_close(reference.sum(dim=1), torch.full((2,), 0.25, dtype=torch.float64))
    torch.testing.assert_close(torch.softmax(scores.double(), dim=1), reference * 4, rtol=1e-5, atol=1e-6)
    # the video score over crops (mean of the per-view softmax) ranks like Caffe2's mean of its vectors
    assert torch.equal(aggregate_views(scores, "softmax_mean").argsort(), reference.mean(0).float().argsort())


def test_positions_share_one_softmax_as_in_caffe2():
    # two positions: (10, 0) and (0, 1). One softmax over classes x positions, then the mean over positions:
    z = torch.tensor([[[10.0, 0.0], [0.0, 1.0]]])  # (N, C, P)
    joint = torch.tensor([[torch.e ** 10 + 1, 1 + torch.e]]) / (torch.e ** 10 + 2 + torch.e)
    torch.testing.assert_close(torch.softmax(scores_from_positions(z), dim=1), joint)
    per_position = torch.softmax(z, dim=1).mean(dim=2)  # a softmax at each position, then the mean: not Caffe2
    assert abs(float(per_position[0, 0]) - float(joint[0, 0])) > 0.3


@torch.no_grad()
def test_convolutional_head_is_the_global_head_on_a_1x1_map():
    model = _model("ir_csn_26", use_pool1=True)
    x = torch.randn(2, 3, 8, 64, 64)
    torch.testing.assert_close(convolutional_logits(model, x, 64), model(x), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_predictor_switches_to_the_convolutional_head():
    model = _model()
    views = torch.randint(0, 256, (1, 8, 128, 128, 3), dtype=torch.uint8)
    glob = TorchPredictor(model, MEAN, STD)
    conv = TorchPredictor(model, MEAN, STD, train_crop_size=112)
    from zoo.data.transforms import normalize
    scores = conv(views)
    torch.testing.assert_close(scores, convolutional_logits(model, normalize(views, MEAN, STD), 112))
    assert not torch.allclose(scores, glob(views), atol=1e-3)
    both = conv.features_and_logits(views)
    torch.testing.assert_close(both[:, -7:], scores)
    torch.testing.assert_close(both[:, :-7], glob.features(views))
    with pytest.raises(ValueError, match="convolutional"):
        TorchPredictor(zoo.create_model("c3d", num_classes=3, channel_multiplier=0.125), MEAN, STD,
                       train_crop_size=112)
    with pytest.raises(ValueError, match="at least as large"):
        conv(torch.zeros(1, 8, 96, 96, 3, dtype=torch.uint8))


@torch.no_grad()
def test_layer_taps_see_global_features_and_convolutional_scores():
    from zoo.extract.taps import LayerTap
    from zoo.models.conv_head import ConvolutionalClassifier

    model = _model()
    x = torch.randn(1, 3, 8, 128, 128)
    out = LayerTap(ConvolutionalClassifier(model, 112), ["pool5", "logits"])(x)
    torch.testing.assert_close(out[:, :-7], model.forward_features(x))
    torch.testing.assert_close(out[:, -7:], convolutional_logits(model, x, 112))
