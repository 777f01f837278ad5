"""Building the edge manifest (:class:`edge_agent.bundle.Manifest`) for an exported model."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from cloud.training.export import INPUT_TYPE, ExportedModel, run_onnx
from edge_agent.bundle import Manifest, sha256_hex
from edge_agent.features import feature_names

REFERENCE_COUNT = 5
# ONNX Runtime on another CPU (the agent's arm64) may differ in the last float32 bits; 1e-4 °C
# is far below sensor resolution and far above that noise.
REFERENCE_TOLERANCE = 1e-4


def pick_reference_inputs(x_test: np.ndarray, count: int = REFERENCE_COUNT) -> np.ndarray:
    """Pick ``count`` test windows spread evenly over the test part, as float32."""
    if len(x_test) == 0:
        raise ValueError("no test windows to take reference inputs from")
    positions = np.linspace(0, len(x_test) - 1, num=min(count, len(x_test))).round().astype(int)
    return np.asarray(x_test[positions], dtype=np.float32)


def build_manifest(
    exported: ExportedModel,
    model_name: str,
    run_id: str,
    model_family: str,
    n_lags: int,
    interval_seconds: int,
    x_test: np.ndarray,
    metrics: dict[str, float],
    params: dict[str, Any],
    training_data: dict[str, Any],
) -> Manifest:
    """Describe ``exported`` for the agent; ``version`` stays "" until the registry assigns one.

    Reference outputs come from ONNX Runtime on the exact exported bytes, so the agent checks
    the same file against the same runtime.
    """
    references = pick_reference_inputs(x_test)
    outputs = run_onnx(exported.onnx_bytes, references)
    return Manifest(
        model_name=model_name,
        version="",
        run_id=run_id,
        model_family=model_family,
        n_lags=n_lags,
        input_name=exported.input_name,
        input_type=INPUT_TYPE,
        output_name=exported.output_name,
        feature_order=feature_names(n_lags),
        unit="degC",
        interval_seconds=interval_seconds,
        onnx_sha256=sha256_hex(exported.onnx_bytes),
        reference_inputs=[[float(value) for value in row] for row in references],
        reference_outputs=[float(value) for value in outputs],
        reference_tolerance=REFERENCE_TOLERANCE,
        metrics={key: float(value) for key, value in metrics.items()},
        params=dict(params),
        training_data=dict(training_data),
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
