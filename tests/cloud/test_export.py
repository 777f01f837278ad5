"""ONNX export of every family, scaler in front of trees included, checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from cloud.errors import ExportMismatchError
from cloud.training.datasets import read_collected
from cloud.training.export import INPUT_NAME, export_checked, run_onnx
from cloud.training.families import FAMILIES, LINEAR_TOLERANCE, TREE_TOLERANCE
from cloud.training.windows import split_point, windows_for

CASES = [
    ("ridge", {"n_lags": 12, "alpha": 1.0}),
    ("gbm", {"n_lags": 12, "n_estimators": 50, "max_depth": 3, "learning_rate": 0.1, "subsample": 0.8, "scale": False}),
    ("gbm", {"n_lags": 6, "n_estimators": 50, "max_depth": 4, "learning_rate": 0.1, "subsample": 1.0, "scale": True}),
    ("random_forest", {"n_lags": 12, "n_estimators": 20, "max_depth": 8, "min_samples_leaf": 1, "max_features": 1.0, "scale": False}),
    ("random_forest", {"n_lags": 24, "n_estimators": 20, "max_depth": 10, "min_samples_leaf": 1, "max_features": 0.5, "scale": True}),
]


@pytest.fixture(scope="module")
def series(synthetic_data):
    collected = read_collected(synthetic_data.csv_path)
    values = collected.frame["temperature_c"].to_numpy()
    return values, split_point(values, collected.frame["timestamp"], 24)


@pytest.mark.parametrize(("family", "params"), CASES, ids=["ridge", "gbm", "gbm-scaled", "random_forest", "random_forest-scaled"])
def test_export_matches_sklearn(series, family, params):
    values, split = series
    windows = windows_for(values, params["n_lags"], split)
    model = FAMILIES[family].build(params, 0).fit(windows.x_train, windows.y_train)
    check = np.vstack([windows.x_train, windows.x_test])

    exported = export_checked(model, family, params["n_lags"], check, FAMILIES[family].onnx_tolerance)

    expected_tolerance = LINEAR_TOLERANCE if family == "ridge" else TREE_TOLERANCE
    assert exported.tolerance == expected_tolerance
    assert exported.max_abs_diff <= expected_tolerance
    outputs = run_onnx(exported.onnx_bytes, windows.x_test)
    np.testing.assert_allclose(outputs, model.predict(windows.x_test.astype(np.float32)), atol=expected_tolerance)


def test_export_input_is_float_history(series):
    values, split = series
    windows = windows_for(values, 12, split)
    model = FAMILIES["ridge"].build({"alpha": 1.0}, 0).fit(windows.x_train, windows.y_train)
    exported = export_checked(model, "ridge", 12, windows.x_test, LINEAR_TOLERANCE)

    graph = onnx.load_from_string(exported.onnx_bytes).graph
    assert len(graph.input) == 1
    assert graph.input[0].name == INPUT_NAME == exported.input_name
    tensor = graph.input[0].type.tensor_type
    assert tensor.elem_type == onnx.TensorProto.FLOAT
    assert [dim.dim_value for dim in tensor.shape.dim] == [0, 12]  # 0: the batch dimension is open
    assert exported.output_name == graph.output[0].name


def test_export_gap_above_tolerance_raises(series):
    values, split = series
    windows = windows_for(values, 6, split)
    model = FAMILIES["ridge"].build({"alpha": 1.0}, 0).fit(windows.x_train, windows.y_train)
    measured = export_checked(model, "ridge", 6, windows.x_test, LINEAR_TOLERANCE).max_abs_diff
    assert measured > 0  # float32 rounding always leaves some gap, so a zero tolerance must fail

    with pytest.raises(ExportMismatchError) as caught:
        export_checked(model, "ridge", 6, windows.x_test, 0.0)

    assert caught.value.family == "ridge"
    assert caught.value.max_abs_diff == pytest.approx(measured)
    assert "ridge" in str(caught.value)
    assert "not registered" in str(caught.value)
