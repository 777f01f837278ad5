"""ONNX export with a numerical check against scikit-learn before anything is published.

The exported model takes one float32 input named ``history`` of shape ``[None, n_lags]``
(oldest reading first, as :func:`edge_agent.features.lag_windows` builds it) and returns one
float32 prediction per row. The check runs the exported *bytes* in ONNX Runtime, the same
runtime the edge agent uses, and compares with scikit-learn on the held-out windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import RegressorMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cloud.errors import ExportMismatchError

logger = logging.getLogger(__name__)

INPUT_NAME = "history"
INPUT_TYPE = "float32"
# Opset 17 with ai.onnx.ml 3 is supported by every onnxruntime >= 1.14, including arm64 wheels.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True)
class ExportedModel:
    """An ONNX model as bytes with what the check measured."""

    onnx_bytes: bytes
    input_name: str
    output_name: str
    max_abs_diff: float
    tolerance: float


def to_onnx(model: RegressorMixin, n_lags: int) -> onnx.ModelProto:
    """Convert a fitted estimator to ONNX with the float32 ``history`` input of ``n_lags`` columns."""
    proto = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, n_lags]))],
        target_opset=TARGET_OPSET,
        # The default Scaler operator multiplies float32 values by 1/scale. scikit-learn subtracts
        # and divides in float64 before its trees cast to float32, and the float32 shortcut moves
        # some inputs across a split threshold (gaps of 3e-3 seen with a scaled GBM). Computing
        # in double and casting once reproduces scikit-learn's rounding.
        options={StandardScaler: {"div": "div_cast"}},
    )
    _restore_scaler_means(proto, model)
    return proto


def _restore_scaler_means(proto: onnx.ModelProto, model: RegressorMixin) -> None:
    """Put the exact float64 means of every StandardScaler back into the graph's Sub constants.

    skl2onnx 1.20.0 stores the ``div_cast`` offset rounded to float32 (errors near 3e-7), which
    is enough to move a scaled input across a tree threshold. Constants are matched by value.
    """
    steps = model.steps if isinstance(model, Pipeline) else [("model", model)]
    means = [step.mean_ for _, step in steps if isinstance(step, StandardScaler) and step.with_mean]
    if not means:
        return
    sub_inputs = {name for node in proto.graph.node if node.op_type == "Sub" for name in node.input}
    for initializer in proto.graph.initializer:
        if initializer.name not in sub_inputs:
            continue
        stored = numpy_helper.to_array(initializer)
        for mean in means:
            if stored.dtype == np.float64 and stored.shape == mean.shape and np.allclose(stored, mean, atol=1e-5):
                initializer.CopyFrom(numpy_helper.from_array(mean.astype(np.float64), initializer.name))


def run_onnx(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Run ONNX Runtime on the model bytes and return the predictions as a flat float array."""
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (output,) = session.run(None, {name: np.asarray(x, dtype=np.float32)})[:1]
    return np.asarray(output, dtype=np.float64).ravel()


def export_checked(model: RegressorMixin, family: str, n_lags: int, x_check: np.ndarray, tolerance: float) -> ExportedModel:
    """Export ``model`` and compare ONNX Runtime with scikit-learn on ``x_check``.

    scikit-learn is given the same float32-rounded inputs as ONNX Runtime, so the measured gap
    is the converter's and the runtime's, not the rounding of the input. Raises
    ExportMismatchError naming the family and the gap when it exceeds ``tolerance``.
    """
    proto = to_onnx(model, n_lags)
    onnx_bytes = proto.SerializeToString()
    x32 = np.asarray(x_check, dtype=np.float32)
    expected = np.asarray(model.predict(x32.astype(np.float64)), dtype=np.float64).ravel()
    actual = run_onnx(onnx_bytes, x32)
    max_abs_diff = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    logger.info(
        "ONNX check of %s: max |onnx - sklearn| = %.3g over %d windows (tolerance %g)",
        family, max_abs_diff, expected.size, tolerance,
    )
    if not max_abs_diff <= tolerance:
        raise ExportMismatchError(family, max_abs_diff, tolerance)
    return ExportedModel(
        onnx_bytes=onnx_bytes,
        input_name=proto.graph.input[0].name,
        output_name=proto.graph.output[0].name,
        max_abs_diff=max_abs_diff,
        tolerance=tolerance,
    )
