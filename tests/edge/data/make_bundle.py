"""Write the fixture bundles used by the agent tests: tiny linear ONNX models with their manifests.

Run by developers after changing the fixtures, not by the tests (the tests must not need the
``onnx`` package)::

    .venv/bin/python tests/edge/data/make_bundle.py

Each bundle is a folder holding ``model.onnx`` (``y = X @ w + b``, float32 input of shape
``[None, n_lags]``, output of shape ``[None, 1]`` like a skl2onnx regressor) and
``edge_manifest.json`` whose reference outputs are computed here with NumPy in float32.

- ``mean12``: the mean of 12 readings (version 1 in tests);
- ``recent12``: weights rising towards the most recent reading plus an offset of 0.5 (version 2);
- ``mean6``: the mean of 6 readings, used to build a model that does not fit a 12-lag manifest;
- ``sum12``: the sum of 12 readings, whose output overflows float32 for inputs that do not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_agent.bundle import Manifest, sha256_hex
from edge_agent.features import feature_names

HERE = Path(__file__).resolve().parent
INPUT_NAME = "input"
OUTPUT_NAME = "variable"


def linear_model(weights: np.ndarray, bias: float) -> bytes:
    """Build a serialized ONNX graph computing ``X @ weights + bias`` in float32."""
    n_lags = weights.size
    graph = helper.make_graph(
        nodes=[
            helper.make_node("MatMul", [INPUT_NAME, "weights"], ["product"]),
            helper.make_node("Add", ["product", "bias"], [OUTPUT_NAME]),
        ],
        name="linear_forecaster",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, n_lags])],
        outputs=[helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, 1])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32).reshape(n_lags, 1), "weights"),
            numpy_helper.from_array(np.array([bias], dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_bundle")
    # IR version 8 loads in every onnxruntime release the agent supports (1.20 and later).
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_bundle(name: str, weights: np.ndarray, bias: float, family: str) -> None:
    """Write ``<name>/model.onnx`` and ``<name>/edge_manifest.json`` next to this script."""
    n_lags = weights.size
    model_bytes = linear_model(weights, bias)
    references = np.array(
        [
            np.linspace(20.0, 23.0, n_lags),
            np.full(n_lags, 18.5),
            21.0 + np.sin(np.arange(n_lags)),
        ],
        dtype=np.float32,
    )
    outputs = references @ weights.astype(np.float32) + np.float32(bias)
    manifest = Manifest(
        model_name="temperature-forecaster",
        version="",
        run_id=f"fixture-{name}",
        model_family=family,
        n_lags=n_lags,
        input_name=INPUT_NAME,
        input_type="float32",
        output_name=OUTPUT_NAME,
        feature_order=feature_names(n_lags),
        unit="degC",
        interval_seconds=60,
        onnx_sha256=sha256_hex(model_bytes),
        reference_inputs=[[float(v) for v in row] for row in references],
        reference_outputs=[float(v) for v in outputs],
        reference_tolerance=1e-4,
        metrics={"rmse": 0.42, "mae": 0.31, "naive_rmse": 0.55},
        params={"weights": "fixture"},
        training_data={"source": "tests/edge/data/make_bundle.py"},
        created_at="2026-01-01T00:00:00Z",
    )
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    (folder / "model.onnx").write_bytes(model_bytes)
    (folder / "edge_manifest.json").write_text(manifest.to_json() + "\n")
    print(f"wrote {folder} ({len(model_bytes)} bytes of ONNX)")


def main() -> None:
    write_bundle("mean12", np.full(12, 1.0 / 12.0), 0.0, "linear")
    recent = np.arange(1, 13, dtype=np.float64)
    write_bundle("recent12", recent / recent.sum(), 0.5, "linear")
    write_bundle("mean6", np.full(6, 1.0 / 6.0), 0.0, "linear")
    write_bundle("sum12", np.ones(12), 0.0, "linear")


if __name__ == "__main__":
    main()
