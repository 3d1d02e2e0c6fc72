"""The parameter objects that group long option lists: their checks and defaults, and the flat keywords the
public functions still take (each one sets the record field of its name)."""
from pathlib import Path

import pytest

from zoo.errors import UsageError
from zoo.evaluate.records import RunOutput
from zoo.evaluate.runner import evaluation_options
from zoo.extract.api import window_spec_from
from zoo.extract.options import WindowRequest
from zoo.console import say
from zoo.options import RunOptions, fold_keywords


def test_run_options_defaults_and_checks():
    run = RunOptions()
    assert (run.device, run.workers, run.max_memory, run.amp, run.backend, run.progress, run.log) == \
        (None, 0, None, None, "torch", True, say)     # one escaped line on stdout
    quiet = RunOptions.quiet(workers=2)
    assert quiet.workers == 2 and not quiet.progress and quiet.log("dropped") is None
    assert RunOptions(device="cpu").on("cuda:1").device == "cuda:1"
    assert RunOptions(max_memory=8e9).max_memory == 8e9                    # a float budget, as before
    for bad in ({"workers": -1}, {"workers": 1.5}, {"workers": True}, {"max_memory": 0}, {"max_memory": "8GiB"},
                {"max_memory": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            RunOptions(**bad)
    with pytest.raises(UsageError, match="--amp applies to the torch backend only"):
        RunOptions(amp="bf16", backend="onnx")
    with pytest.raises(AttributeError):
        run.workers = 3                                                     # frozen


def test_fold_keywords_sets_the_field_of_each_name_and_refuses_others():
    run, output = fold_keywords("f", {"workers": 2, "resume": True}, RunOptions(), RunOutput("out"))
    assert run.workers == 2 and output.resume and output.folder == Path("out")
    same = RunOptions()
    assert fold_keywords("f", {}, same) == [same]
    with pytest.raises(TypeError, match=r"f\(\) got an unexpected keyword argument 'wokers'"):
        fold_keywords("f", {"wokers": 2}, RunOptions())


def test_run_output_defaults_and_checks():
    assert RunOutput() == RunOutput(None, False, None, "npz", 60.0)
    assert RunOutput("out").folder == Path("out")
    with pytest.raises(ValueError, match="scores_format"):
        RunOutput("out", scores_format="csv")
    with pytest.raises(ValueError, match="save_every"):
        RunOutput("out", save_every=-1)


def test_evaluate_keeps_the_keywords_of_its_earlier_signature():
    def log(message):
        pass

    run, output = evaluation_options(None, "out", {"device": "cuda:0", "workers": 3, "max_memory": 1 << 30,
                                                   "progress": False, "log": log, "resume": True,
                                                   "settings": {"a": 1}, "scores_format": "safetensors",
                                                   "save_every": 5.0})
    assert run == RunOptions("cuda:0", 3, 1 << 30, progress=False, log=log)
    assert output == RunOutput(Path("out"), True, {"a": 1}, "safetensors", 5.0)
    run, output = evaluation_options(None, None, {})
    assert run.device == "cpu" and output.folder is None                     # the earlier defaults
    given = RunOutput("x", resume=True)
    assert evaluation_options(RunOptions(workers=1), given, {}) == (RunOptions(workers=1), given)
    with pytest.raises(TypeError, match="evaluate.*'batch_size'"):
        evaluation_options(None, None, {"batch_size": 4})


def test_window_request_checks_and_what_it_asks_the_protocol():
    assert WindowRequest().protocol_overrides() == dict.fromkeys(WindowRequest().protocol_overrides())
    asked = WindowRequest(window=8, clips=2, crops=3, sampling_rate=2).protocol_overrides()
    assert (asked["clip_len"], asked["num_clips"], asked["num_crops"], asked["sampling_rate"]) == (8, 2, 3, 2)
    assert WindowRequest(clips=2).views and not WindowRequest(window=8).views
    with pytest.raises(ValueError, match="several crops need test views"):
        WindowRequest(crops=3)


def test_a_window_goes_to_the_window_spec_and_mean_std_to_the_settings():
    meta = {"clip_len": 32, "sampling_rate": 2, "resize": [128, 171], "crop_size": 112}
    spec, settings = window_spec_from(meta, WindowRequest(window=8, stride=4))
    assert (spec.window, spec.sampling_rate, spec.stride, spec.views, spec.crops) == (8, 2, 4, False, 1)
    spec, settings = window_spec_from(meta, WindowRequest(mean=(0.5, 0.5, 0.5), std=[2, 2, 2], full_frame=True))
    assert spec.window == 32 and spec.view.crop_size is None
    assert settings.mean == [0.5, 0.5, 0.5] and settings.std == [2, 2, 2]
    spec, _ = window_spec_from(meta, WindowRequest(clips=3, crops=3))
    assert spec.views and spec.crops == 3 and spec.view.num_clips == 3
    with pytest.raises(ValueError, match="the whole frame is one view"):
        window_spec_from(meta, WindowRequest(clips=3, crops=3, full_frame=True))
