"""Features equal the model's own outputs for the same frames; several layers in one pass equal separate
passes; aliases, spatial pooling, reductions, test views and the ONNX backend."""
import numpy as np
import pytest
import torch

import zoo
from extract_helpers import SIZE, write_cfr
from zoo.data.decode import decode_frames
from zoo.data.transforms import normalize
from zoo.data.views import decode_views
from zoo.evaluate.predictors import TorchPredictor
from zoo.extract import LayerTap, extract_features

WIN = dict(window=4, stride=5)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_cfr(tmp_path_factory.mktemp("f") / "v.mp4", 16, 30, seed=7)


@pytest.fixture(scope="module")
def model(checkpoint):
    return zoo.load_checkpoint(checkpoint).eval()


def direct_input(model, video, starts, window=4):
    frames = decode_frames(video, range(16), size=SIZE)
    clips = np.stack([frames[[min(s + t, 15) for t in range(window)]] for s in starts])
    meta = model.zoo_meta
    return normalize(torch.from_numpy(clips), meta["mean"], meta["std"])


def test_pool5_and_logits_equal_the_model(model, video):
    feats = extract_features(model, video, "pool5,logits", **WIN)
    assert feats["pool5"].shape == (4, model.fc.in_features)         # starts 0, 5, 10 and 15 (padded)
    x = direct_input(model, video, [0, 5, 10, 15])
    with torch.no_grad():
        np.testing.assert_allclose(feats["pool5"], model.forward_features(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(feats["logits"], model(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats.start, np.arange(4) * 5 / 30)


def test_inner_layer_equals_its_module_output(model, video):
    feats = extract_features(model, video, "layer3,layer1.0", **WIN)
    x = direct_input(model, video, [0, 5, 10, 15])
    with torch.no_grad():
        l1_0 = model.layer1[0](model.stem(x))
        l3 = model.layer3(model.layer2(model.layer1(model.stem(x))))
    np.testing.assert_allclose(feats["layer3"], l3.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["layer1.0"], l1_0.numpy(), rtol=1e-5, atol=1e-6)


def test_several_layers_in_one_pass_equal_separate_passes(model, video):
    calls = []
    handle = model.stem.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        together = extract_features(model, video, "stem,layer2,pool5,logits", **WIN)
        passes_together = len(calls)
        alone = {name: extract_features(model, video, name, **WIN)[name] for name in ("stem", "layer2", "pool5",
                                                                                         "logits")}
    finally:
        handle.remove()
    assert passes_together == 1 and len(calls) == 5            # one forward for four layers
    for name, array in alone.items():
        np.testing.assert_array_equal(together[name], array)


def test_forward_stops_after_the_last_requested_layer(model, video):
    ran = []
    handle = model.layer3.register_forward_hook(lambda m, i, o: ran.append(1))
    try:
        extract_features(model, video, "layer2", **WIN)
    finally:
        handle.remove()
    assert ran == []
    assert all(not m._forward_hooks for m in model.modules())          # the tap's hooks are gone


def test_aliases_pooling_and_reductions(model, video):
    base = extract_features(model, video, "pool5,logits,layer2", **WIN)
    vmz = extract_features(model, video, "final_avg,last_out_L2,softmax", **WIN)
    np.testing.assert_array_equal(vmz["final_avg"], base["pool5"])
    np.testing.assert_array_equal(vmz["last_out_L2"], base["logits"])
    np.testing.assert_allclose(vmz["softmax"], torch.softmax(torch.from_numpy(base["logits"]), 1).numpy(), rtol=1e-6)
    pooled = extract_features(model, video, "layer2", pool_spatial="max", **WIN)["layer2"]
    np.testing.assert_allclose(pooled, base["layer2"].max(axis=(3, 4)), rtol=1e-6)
    mean = extract_features(model, video, "pool5", reduce="mean", **WIN)
    np.testing.assert_allclose(mean["pool5"], base["pool5"].mean(axis=0), rtol=1e-5)
    assert mean.start.shape == (4,)                                   # the times of every window are kept
    with pytest.raises(ValueError, match="last_out_L2"):
        extract_features(model, video, "last_out_L400", **WIN)
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        extract_features(model, video, "conv9", **WIN)


def test_test_views_match_the_evaluator(model, video):
    feats = extract_features(model, video, "pool5", clips=2, crops=3, resize=40, crop_size=32)
    assert feats["pool5"].shape == (2, 3, model.fc.in_features) and feats.start.shape == (2,)
    views = decode_views(video, zoo.data.views.ViewSpec(clip_len=4, num_clips=2, num_crops=3, resize=40,
                                                        crop_size=32))
    predictor = TorchPredictor(model, model.zoo_meta["mean"], model.zoo_meta["std"])
    np.testing.assert_allclose(feats["pool5"].reshape(6, -1), predictor.features(views).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_convolutional_test_head_matches_the_evaluator(model, video):
    feats = extract_features(model, video, "pool5,logits,layer4", clips=2, crops=3, resize=48, crop_size=48,
                             convolutional=True)
    views = decode_views(video, zoo.data.views.ViewSpec(clip_len=4, num_clips=2, num_crops=3, resize=48,
                                                        crop_size=48))
    meta = model.zoo_meta
    head = TorchPredictor(model, meta["mean"], meta["std"], train_crop_size=32)    # the checkpoint's training crop
    np.testing.assert_allclose(feats["logits"].reshape(6, -1), head(views).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feats["pool5"].reshape(6, -1), head.features(views).numpy(), rtol=1e-5, atol=1e-6)
    plain = extract_features(model, video, "logits", clips=2, crops=3, resize=48, crop_size=48)
    assert not np.allclose(plain["logits"], feats["logits"])                        # 2x2 positions, not one pool


def test_a_shared_module_is_refused():
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.act = torch.nn.ReLU()

        def forward(self, x):
            return self.act(self.act(x))

    with pytest.raises(ValueError, match="more than once"):
        LayerTap(Shared(), ["act"], stop_early=False)(torch.ones(1, 3, 1, 1, 1))


def test_memory_budget_chunks_give_the_same_features(model, video):
    calls = []
    handle = model.stem.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        whole = extract_features(model, video, "pool5,layer3", **WIN)
        assert calls == [4]                                          # four windows, one pass
        calls.clear()
        chunked = extract_features(model, video, "pool5,layer3", max_memory=1, **WIN)
    finally:
        handle.remove()
    assert calls[-4:] == [1, 1, 1, 1]                                # after the probe: one window per pass
    for name in ("pool5", "layer3"):
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-5, atol=1e-6)


def test_onnx_backend_equals_torch(model, video):
    torch_feats = extract_features(model, video, "pool5,logits", **WIN)
    onnx_feats = extract_features(model, video, "pool5,logits", backend="onnx", **WIN)
    for name in ("pool5", "logits"):
        np.testing.assert_allclose(onnx_feats[name], torch_feats[name], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(onnx_feats.start, torch_feats.start)


@pytest.mark.filterwarnings("ignore:.pin_memory. argument is set as true")  # no accelerator here
def test_a_cuda_model_runs_on_its_own_device_and_stays_there(model, video, monkeypatch):
    # a CUDA-looking model (no GPU here): its device reads cuda:1, its moves are recorded; the predictor is
    # asked for the device and then built on the CPU, where this machine can run it
    import zoo.extract.api as api

    cuda1 = torch.device("cuda", 1)
    asked, moves = [], []
    real_layer_predictor = api.layer_predictor

    def layer_predictor(*args, run, **kwargs):
        asked.append(torch.device(run.device))
        return real_layer_predictor(*args, run=run.on("cpu"), **kwargs)

    def to(*args, **kwargs):
        moves.append(args[0] if args else kwargs.get("device"))
        return torch.nn.Module.to(model, "cpu")

    monkeypatch.setattr(api, "model_device", lambda m: cuda1 if m is model else torch.device("cpu"))
    monkeypatch.setattr(api, "layer_predictor", layer_predictor)
    monkeypatch.setattr(model, "to", to)
    model.train()
    try:
        feats = extract_features(model, video, "pool5", **WIN)
        assert asked == [cuda1] and moves[-1] == cuda1      # run where the model is, and back there after
        assert model.training                               # its mode restored too
        extract_features(model, video, "pool5", device="cpu", **WIN)
        assert asked[-1] == torch.device("cpu") and moves[-1] == cuda1   # an explicit device, then home again
        extract_features(model, video, "pool5", backend="onnx", **WIN)   # the export moves it to the CPU
        assert moves[-1] == cuda1
    finally:
        model.eval()
    assert feats["pool5"].shape[0] == 4


def test_model_device_is_the_device_of_its_tensors():
    from zoo.extract.api import model_device

    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert model_device(model) == torch.device("cpu")
    assert model_device(model.to("meta")) == torch.device("meta")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


def test_the_records_give_what_the_keywords_give(model, video):
    from zoo.extract.options import WindowRequest
    from zoo.options import RunOptions

    flat = extract_features(model, video, "pool5", device="cpu", **WIN)
    records = extract_features(model, video, "pool5", windows=WindowRequest(**WIN), run=RunOptions.quiet(device="cpu"))
    np.testing.assert_array_equal(flat["pool5"], records["pool5"])
    np.testing.assert_array_equal(flat.start, records.start)
    with pytest.raises(TypeError, match="unexpected keyword argument 'windw'"):
        extract_features(model, video, "pool5", windw=4)
