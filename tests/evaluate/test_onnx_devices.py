"""onnxruntime on the GPU it was asked for, or an error: providers, their options, a CUDA provider that did not
start, no runtime installed, a full arena, and --large measuring the GPU (not host RAM). No GPU here: a stand-in
onnxruntime module and monkeypatched torch.cuda functions."""
import sys

import pytest
import torch

from evaluate_helpers import SIZE
from fake_onnxruntime import fake_onnxruntime
from zoo.data.datasets import discover
from zoo.data.views import ViewSpec
from zoo.evaluate import evaluate
from zoo.evaluate.memory import arena_limit
from zoo.evaluate.predictors import OnnxPredictor
from zoo.onnxrt import OnnxRuntimeProblem, create_session

GIB = 1 << 30
SPEC = ViewSpec(clip_len=4, sampling_rate=1, num_clips=4, num_crops=1, resize=SIZE, crop_size=SIZE)


@pytest.fixture
def ort(monkeypatch):
    module = fake_onnxruntime()
    monkeypatch.setitem(sys.modules, "onnxruntime", module)
    return module


def cuda_options(session):
    (name, options), cpu = session.providers
    assert name == "CUDAExecutionProvider" and cpu == "CPUExecutionProvider"
    return options


def test_cuda_session_runs_on_the_requested_gpu_with_heuristic_search(ort):
    OnnxPredictor("m.onnx", [0.5] * 3, [0.5] * 3, device="cuda:3", gpu_mem_limit=6 * GIB)
    options = cuda_options(ort.sessions[-1])
    assert options["device_id"] == 3                       # every rank / --device cuda:3 on its own GPU
    assert options["cudnn_conv_algo_search"] == "HEURISTIC"
    assert options["gpu_mem_limit"] == 6 * GIB and options["arena_extend_strategy"] == "kSameAsRequested"
    create_session("m.onnx", "cuda:1")
    assert cuda_options(ort.sessions[-1]) == {"device_id": 1, "cudnn_conv_algo_search": "HEURISTIC"}


def test_bare_cuda_means_the_current_device(ort, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    create_session("m.onnx", "cuda")
    assert cuda_options(ort.sessions[-1])["device_id"] == 2


def test_cpu_session_uses_only_the_cpu_provider(ort):
    predictor = OnnxPredictor("m.onnx", [0.5] * 3, [0.5] * 3, device="cpu")
    assert ort.sessions[-1].providers == ["CPUExecutionProvider"]
    assert predictor.memory_device == torch.device("cpu")


def test_a_cuda_provider_that_did_not_start_is_an_error(ort):
    ort.started = ["CPUExecutionProvider"]           # onnxruntime fell back to the CPU (libraries missing)
    with pytest.raises(OnnxRuntimeProblem, match="could not start its CUDA provider on cuda:0 .* CPUExecutionProvider"):
        OnnxPredictor("m.onnx", [0.5] * 3, [0.5] * 3, device="cuda:0")


def test_a_runtime_without_cuda_says_which_extra_to_install(ort):
    ort.available = ort.started = ["CPUExecutionProvider"]     # the CPU wheel
    with pytest.raises(OnnxRuntimeProblem, match=r"no CUDA provider.*video-model-zoo\[gpu\]"):
        create_session("m.onnx", "cuda:0")


def test_no_runtime_installed_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)     # import onnxruntime raises ImportError
    with pytest.raises(OnnxRuntimeProblem, match=r"onnxruntime is not installed.*\[cpu\].*\[gpu\]"):
        create_session("m.onnx", "cpu")


def test_a_full_arena_is_an_out_of_memory_error_and_the_retry_shrinks_it(ort):
    from zoo.evaluate.memory import ChunkRunner, is_oom

    ort.arena_views = 2
    predictor = OnnxPredictor("m.onnx", [0.5] * 3, [0.5] * 3, device="cuda:1", gpu_mem_limit=GIB)
    views = torch.zeros(4, 4, SIZE, SIZE, 3, dtype=torch.uint8)
    with pytest.raises(MemoryError) as err:
        predictor(views)
    assert is_oom(err.value)
    logits = ChunkRunner(predictor, chunk_size=4, device=torch.device("cpu"))(views)
    assert logits.shape == (4, 3)
    runs = ort.sessions[-1].runs
    assert [n for n, _ in runs] == [4, 4, 2, 2]
    # the run after an out-of-memory error hands the arena's free memory back to that GPU
    assert runs[2][1] == {"memory.enable_memory_arena_shrinkage": "gpu:1"} and runs[3][1] is None


def test_arena_limit_is_the_budget_plus_the_weights(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * GIB, 80 * GIB))
    assert arena_limit("cuda:0", 4 * GIB, 100) == 4 * GIB + 100
    assert arena_limit("cuda:0", None, 100) == 8 * GIB + 100     # 80 % of the free memory
    assert arena_limit("cpu", 4 * GIB, 100) is None


@pytest.mark.filterwarnings("ignore:.pin_memory. argument is set as true")  # no accelerator here
def test_large_onnx_on_cuda_budgets_the_gpu_not_host_ram(ort, monkeypatch, known_dataset):
    # onnxruntime's arena grows to fixed + views * per_view on the GPU and keeps it; host RAM does not move
    fixed, per_view, total = 1 * GIB, 2 * GIB, 80 * GIB
    used = {"bytes": 3 * GIB}          # the model and other processes

    def on_run(n):
        used["bytes"] = max(used["bytes"], 3 * GIB + fixed + n * per_view)

    ort.on_run = on_run
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (total - used["bytes"], total))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)

    def host_ram_is_not_the_gpu(*args, **kwargs):
        raise AssertionError("the budget of a GPU run read host memory")

    monkeypatch.setattr("zoo.evaluate.memory._read_status_kib", host_ram_is_not_the_gpu)
    monkeypatch.setattr("zoo.evaluate.memory._available_ram", host_ram_is_not_the_gpu)
    samples, classes = discover(known_dataset, split="val")
    predictor = OnnxPredictor("m.onnx", [0.5] * 3, [0.5] * 3, device="cuda:0", gpu_mem_limit=24 * GIB)
    metrics = evaluate(predictor, samples[:1], classes, SPEC, large=True, max_memory=10 * GIB,
                       device=predictor.memory_device, progress=False, log=lambda m: None)
    memory = metrics["memory"]
    # free-memory deltas are not exact: the per-view floor (half the 2-view peak) applies
    assert memory["probe_bytes_per_view"] == max(per_view, (fixed + 2 * per_view) // 2)
    assert memory["initial_chunk_views"] == 3        # 3 views of 2.5 GiB + 0.5 GiB fit in 85 % of 10 GiB
    assert metrics["num_videos"] == 1


def test_two_runtimes_installed_over_each_other_is_a_clear_error(ort, monkeypatch):
    import importlib.metadata

    real = importlib.metadata.distribution
    monkeypatch.setattr(importlib.metadata, "distribution",
                        lambda name: object() if name == "onnxruntime-gpu" else real(name))
    with pytest.raises(OnnxRuntimeProblem, match="both onnxruntime and onnxruntime-gpu are installed"):
        create_session("m.onnx", "cpu")
