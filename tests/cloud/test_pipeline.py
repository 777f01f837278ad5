"""End to end against a real MLflow server: search, runs, bundle, digest and registration."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from cloud.errors import TooFewRowsError
from cloud.training.export import run_onnx
from cloud.training.pipeline import train_and_register
from edge_agent.bundle import MANIFEST_PATH, ONNX_FILE, parse_manifest, sha256_hex
from edge_agent.features import feature_names

TEST_MODEL_NAME = "test-forecaster"  # registered by the session fixture `trained`


@pytest.fixture(scope="module")
def client(mlflow_server) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


@pytest.fixture(scope="module")
def bundle(trained, client, mlflow_server, tmp_path_factory) -> dict[str, Path]:
    """Download model.onnx and the manifest of the registered version as the agent would."""
    mlflow.set_tracking_uri(mlflow_server.url)
    location = mlflow.get_logged_model(trained.model_id).artifact_location
    folder = tmp_path_factory.mktemp("bundle")
    files = {}
    for relative in (ONNX_FILE, MANIFEST_PATH):
        files[relative] = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{location}/{relative}", dst_path=str(folder)))
    return files


def test_pipeline_registers_with_alias(trained, client):
    by_alias = client.get_model_version_by_alias(TEST_MODEL_NAME, "production")
    assert str(by_alias.version) == trained.version
    assert by_alias.run_id == trained.run_id
    assert by_alias.source == trained.model_uri
    assert by_alias.tags["model_family"] == trained.model_family
    assert by_alias.tags["onnx_sha256"] == trained.onnx_sha256


def test_pipeline_result_fields(trained, synthetic_data):
    assert trained.model_family in {"ridge", "gbm", "random_forest"}
    assert trained.n_lags in {6, 12, 24}
    assert trained.trials == 3
    assert trained.test_rmse > 0
    assert trained.naive_rmse > 0
    assert trained.max_abs_onnx_diff <= 1e-3
    assert synthetic_data.start < trained.test_start <= synthetic_data.end
    assert trained.test_start_iso.endswith("Z")


def test_pipeline_parent_run_metrics(trained, client):
    run = client.get_run(trained.run_id)
    metrics = run.data.metrics
    for name in ("rmse", "mae", "r2", "naive_rmse", "max_abs_onnx_diff", "best_cv_rmse"):
        assert name in metrics, name
    assert metrics["rmse"] == pytest.approx(trained.test_rmse)
    assert run.data.params["best_family"] == trained.model_family
    assert run.data.tags["beats_naive"] == str(trained.test_rmse < trained.naive_rmse).lower()
    assert run.data.tags["registered_version"] == trained.version
    assert run.inputs.dataset_inputs[0].dataset.digest == run.data.params["data_sha256"][:12]


def test_pipeline_trials_are_nested_runs(trained, client):
    run = client.get_run(trained.run_id)
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{trained.run_id}'"
    )
    assert len(children) == trained.trials
    assert {child.data.params["family"] for child in children} == {"ridge", "gbm", "random_forest"}
    for child in children:
        assert child.data.metrics["cv_rmse"] > 0
        assert child.data.metrics["cv_mae"] > 0
        assert "n_lags" in child.data.params


def test_pipeline_logs_plots(trained, client):
    names = {item.path for item in client.list_artifacts(trained.run_id, "plots")}
    assert names == {"plots/predicted_vs_actual.png", "plots/residuals.png"}


def test_bundle_manifest_parses(trained, bundle):
    manifest = parse_manifest(bundle[MANIFEST_PATH].read_text())
    assert manifest.model_name == TEST_MODEL_NAME
    assert manifest.version == ""
    assert manifest.run_id == trained.run_id
    assert manifest.n_lags == trained.n_lags
    assert manifest.feature_order == feature_names(trained.n_lags)
    assert manifest.input_name == "history"
    assert manifest.input_type == "float32"
    assert manifest.unit == "degC"
    assert manifest.interval_seconds == 3600
    assert len(manifest.reference_inputs) == 5
    assert set(manifest.metrics) == {"rmse", "mae", "r2", "naive_rmse", "max_abs_onnx_diff"}
    assert manifest.training_data["test_start"].startswith(trained.test_start.strftime("%Y-%m-%dT%H:%M"))


def test_bundle_digest_matches_file(trained, bundle):
    manifest = parse_manifest(bundle[MANIFEST_PATH].read_text())
    digest = sha256_hex(bundle[ONNX_FILE].read_bytes())
    assert digest == manifest.onnx_sha256 == trained.onnx_sha256


def test_bundle_reference_outputs_reproduce(bundle):
    manifest = parse_manifest(bundle[MANIFEST_PATH].read_text())
    outputs = run_onnx(bundle[ONNX_FILE].read_bytes(), np.asarray(manifest.reference_inputs, dtype=np.float32))
    np.testing.assert_allclose(outputs, manifest.reference_outputs, atol=manifest.reference_tolerance)


def test_bundle_logged_model_has_flavor_files(trained, mlflow_server):
    mlflow.set_tracking_uri(mlflow_server.url)
    location = mlflow.get_logged_model(trained.model_id).artifact_location
    names = {Path(item.path).name for item in mlflow.artifacts.list_artifacts(artifact_uri=location)}
    assert {"MLmodel", ONNX_FILE, "extra_files"} <= names


def test_pipeline_too_short_data_names_rows(tmp_path, mlflow_server):
    path = tmp_path / "short.csv"
    rows = [f"2024-01-01T{hour:02d}:00:00Z,{10 + hour * 0.1:.1f}" for hour in range(24)]
    path.write_text("timestamp,temperature_c\n" + "\n".join(rows) + "\n")
    with pytest.raises(TooFewRowsError) as caught:
        train_and_register(path, mlflow_server.url, model_name="never-registered", budget_trials=1)
    assert caught.value.rows == 24
    assert "has 24 usable rows" in str(caught.value)
    client = MlflowClient(mlflow_server.url)
    assert client.search_registered_models(filter_string="name = 'never-registered'") == []
