"""In-process prediction: ONNX Runtime against scikit-learn, per model family and batch size.

scikit-learn predicts from float64 windows, its native type, and ONNX Runtime from the same
windows cast to float32 beforehand, with one intra-op thread as the agent opens its sessions.
The two are timed one after the other within each run, in alternating order, and each run
gives one ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.model import FamilyModel
from bench.stats import ratios, summarize

BATCH_SIZES = (1, 1000)


def time_call(call: Callable[[], Any], seconds: float) -> float:
    """Call ``call`` repeatedly for about ``seconds``; return the mean microseconds per call."""
    call()  # first call outside the timing: lazy initialisation and caches
    calls, started = 0, time.perf_counter()
    step = 1
    while True:
        for _ in range(step):
            call()
        calls += step
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return elapsed / calls * 1e6
        # Check the clock less often as calls turn out fast, so timing overhead stays small.
        step = min(step * 2, 1000)


def open_session(onnx_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])


def measure(models: list[FamilyModel], runs: int, seconds: float) -> list[dict[str, Any]]:
    """Return one row per family and batch size: µs per call of each side and the ratio."""
    rows = []
    for model in models:
        session = open_session(model.onnx_bytes)
        input_name = session.get_inputs()[0].name
        for size in BATCH_SIZES:
            x64 = np.ascontiguousarray(np.resize(model.x_test, (size, model.x_test.shape[1])))
            x32 = x64.astype(np.float32)
            sklearn_us, onnx_us = [], []
            for run in range(runs):
                def sklearn_call() -> Any:
                    return model.estimator.predict(x64)

                def onnx_call() -> Any:
                    return session.run(None, {input_name: x32})

                if run % 2 == 0:
                    sklearn_us.append(time_call(sklearn_call, seconds))
                    onnx_us.append(time_call(onnx_call, seconds))
                else:
                    onnx_us.append(time_call(onnx_call, seconds))
                    sklearn_us.append(time_call(sklearn_call, seconds))
            rows.append(
                {
                    "family": model.family,
                    "params": model.params,
                    "onnx_bytes": len(model.onnx_bytes),
                    "max_abs_diff": model.max_abs_diff,
                    "batch": size,
                    "sklearn_us": summarize(sklearn_us).as_dict(),
                    "onnx_us": summarize(onnx_us).as_dict(),
                    "speedup": summarize(ratios(sklearn_us, onnx_us)).as_dict(),
                }
            )
    return rows
