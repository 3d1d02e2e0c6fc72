"""A stand-in ``onnxruntime`` module (no GPU here): records the providers and options of every session and run,
reports the providers a test chooses, and can make a run fail the way onnxruntime's CUDA arena does."""
from __future__ import annotations

import types

import numpy as np

#: the message onnxruntime's BFC arena gives when an allocation does not fit under gpu_mem_limit
ARENA_FULL = ("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv node. "
              "Name:'/stem/Conv' Status Message: Available memory of 0 is smaller than requested bytes of 9437184")


class RuntimeException(Exception):
    """onnxruntime.capi.onnxruntime_pybind11_state.RuntimeException (not a RuntimeError)."""


class RunOptions:
    def __init__(self):
        self.entries = {}

    def add_run_config_entry(self, key, value):
        self.entries[key] = value


class Input:
    name = "x"


class Session:
    def __init__(self, runtime, path, providers):
        self.runtime, self.path, self.providers = runtime, path, providers
        self.runs = []            # (batch size, RunOptions entries or None)

    def get_providers(self):
        return list(self.runtime.started)

    def get_inputs(self):
        return [Input()]

    def run(self, outputs, feed, options=None):
        n = feed["x"].shape[0]
        self.runs.append((n, None if options is None else dict(options.entries)))
        if self.runtime.arena_views is not None and n > self.runtime.arena_views:
            raise RuntimeException(ARENA_FULL)
        if self.runtime.on_run is not None:
            self.runtime.on_run(n)
        return [np.zeros((n, self.runtime.classes), np.float32)]


def fake_onnxruntime(available=("CUDAExecutionProvider", "CPUExecutionProvider"), started=None, classes=3,
                     arena_views=None, on_run=None):
    """The module: ``available`` providers, sessions whose ``get_providers()`` is ``started`` (default: all
    available), runs of more than ``arena_views`` views failing as a full arena, ``on_run(n)`` after each run."""
    module = types.ModuleType("onnxruntime")
    module.__version__ = "1.31.1-fake"
    module.available, module.started = list(available), list(started if started is not None else available)
    module.classes, module.arena_views, module.on_run = classes, arena_views, on_run
    module.sessions = []
    module.RunOptions = RunOptions
    module.get_available_providers = lambda: list(module.available)

    def inference_session(path, providers=None, **kwargs):
        session = Session(module, path, providers)
        module.sessions.append(session)
        return session

    module.InferenceSession = inference_session
    return module
