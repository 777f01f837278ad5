"""Training pipeline: search, evaluate, export, verify, log the bundle to MLflow and register it.

The order of the steps is what keeps the registry safe. The tracking server is checked before
any work. The ONNX export is checked against scikit-learn before anything is logged as a model.
The model file is downloaded back and compared with the manifest's SHA-256 before a version is
registered. A failure at any step leaves the registry and its aliases untouched.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import mlflow.onnx
import numpy as np
import onnx
import pandas as pd
from mlflow.models import infer_signature
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from cloud.registry.aliases import DEFAULT_ALIAS
from cloud.registry.connection import check_tracking_server
from cloud.registry.defaults import DEFAULT_MODEL_NAME
from cloud.registry.versions import make_client, register_version
from cloud.training import plots
from cloud.training.datasets import DEFAULT_EXPERIMENT, TIMESTAMP_FORMAT, dataset_for_mlflow, read_collected
from cloud.errors import BundleMismatchError, CloudError, ExportMismatchError
from cloud.training.export import ExportedModel, export_checked
from cloud.training.families import FAMILIES, get_family
from cloud.training.manifest import build_manifest
from cloud.training.search import DEFAULT_CV_SPLITS, DEFAULT_SECONDS, DEFAULT_TRIALS, Trial, run_search
from cloud.training.windows import DEFAULT_TEST_FRACTION, split_point, held_out_target_positions, windows_for
from edge_agent.bundle import MANIFEST_FILE, ONNX_FILE, Manifest, sha256_hex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    """Outcome of one training run: the chosen model, its metrics and its registry version."""

    run_id: str
    version: str
    model_family: str
    n_lags: int
    test_rmse: float
    naive_rmse: float
    test_start: pd.Timestamp  # timestamp of the first test target; the demo replays readings from here
    test_start_iso: str  # the same in the collected CSV's format, e.g. 2010-10-20T12:00:00Z
    max_abs_onnx_diff: float
    test_mae: float = 0.0
    test_r2: float = 0.0
    beats_naive: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    model_uri: str = ""  # models:/<model id> of the logged model
    model_id: str = ""
    onnx_sha256: str = ""
    alias: str | None = None
    trials: int = 0
    search_seconds: float = 0.0


def train_and_register(
    data_csv: Path,
    tracking_uri: str,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str | None = DEFAULT_ALIAS,
    budget_trials: int = DEFAULT_TRIALS,
    budget_seconds: float | None = DEFAULT_SECONDS,
    seed: int = 0,
    families: list[str] | None = None,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    cv_splits: int = DEFAULT_CV_SPLITS,
    experiment: str = DEFAULT_EXPERIMENT,
) -> TrainingResult:
    """Tune, export, verify and register a forecaster trained on a CSV written by ``collect``.

    ``alias`` (default "production") is moved to the new version; pass None or "" to register
    without moving it. Raises TrackingServerUnreachableError before any training when the server
    does not respond, TooFewRowsError when the data is too short for the largest ``n_lags``,
    ExportMismatchError or BundleMismatchError (nothing registered) when the checks fail.
    """
    _check_search_settings(budget_trials, budget_seconds, cv_splits, test_fraction)
    check_tracking_server(tracking_uri)
    series = read_collected(data_csv)
    values = series.frame["temperature_c"].to_numpy(dtype=np.float64)
    timestamps = series.frame["timestamp"]
    names = families or list(FAMILIES)
    max_lags = max(max(get_family(name).grid["n_lags"]) for name in names)
    split = split_point(values, timestamps, max_lags, test_fraction, source=str(data_csv))
    logger.info(
        "split: %d training and %d test windows (n_lags %d), test part starts at %s",
        split.train_windows, split.test_windows, max_lags, split.timestamp.isoformat(),
    )

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"train-{series.sha256[:12]}") as parent:
        run_id = parent.info.run_id
        logger.info("parent run %s in experiment %r on %s", run_id, experiment, tracking_uri)
        mlflow.log_input(dataset_for_mlflow(series.frame, series.path, series.sha256), context="training")
        mlflow.log_params(
            {
                "data_sha256": series.sha256,
                "test_start": split.timestamp.isoformat(),
                "test_fraction": test_fraction,
                "budget_trials": budget_trials,
                "budget_seconds": budget_seconds,
                "cv_splits": cv_splits,
                "seed": seed,
                "families": ",".join(names),
            }
        )
        search = run_search(values, split, names, budget_trials, budget_seconds, cv_splits, seed, _log_trial)
        best = search.best
        mlflow.log_params({f"best_{key}": value for key, value in best.params.items()} | {"best_family": best.family})
        mlflow.log_metrics({"best_cv_rmse": best.cv_rmse, "best_cv_mae": best.cv_mae, "trials": len(search.trials)})

        windows = windows_for(values, best.params["n_lags"], split)
        model = get_family(best.family).build(best.params, seed).fit(windows.x_train, windows.y_train)
        predicted = model.predict(windows.x_test)
        naive = windows.x_test[:, -1]
        metrics = {
            "rmse": float(np.sqrt(mean_squared_error(windows.y_test, predicted))),
            "mae": float(mean_absolute_error(windows.y_test, predicted)),
            "r2": float(r2_score(windows.y_test, predicted)),
            "naive_rmse": float(np.sqrt(mean_squared_error(windows.y_test, naive))),
        }
        mlflow.log_metrics(metrics)
        beats_naive = metrics["rmse"] < metrics["naive_rmse"]
        mlflow.set_tag("beats_naive", str(beats_naive).lower())
        if not beats_naive:
            logger.warning(
                "the %s model does not beat the naive forecast on the test part: rmse %.4f >= naive_rmse %.4f",
                best.family, metrics["rmse"], metrics["naive_rmse"],
            )
        target_times = timestamps.iloc[held_out_target_positions(values, best.params["n_lags"], split)]
        _log_plots(target_times, best, windows.y_test, predicted, naive)

        family = get_family(best.family)
        try:
            exported = export_checked(model, best.family, best.params["n_lags"], windows.x_test, family.onnx_tolerance)
        except ExportMismatchError as error:
            mlflow.log_metric("max_abs_onnx_diff", error.max_abs_diff)
            mlflow.set_tag("export_failed", str(error))
            raise
        metrics["max_abs_onnx_diff"] = exported.max_abs_diff
        mlflow.log_metric("max_abs_onnx_diff", exported.max_abs_diff)

        training_data = {
            "sha256": series.sha256,
            "file": series.path.name,
            "start": timestamps.iloc[0].isoformat(),
            "end": timestamps.iloc[-1].isoformat(),
            "test_start": split.timestamp.isoformat(),
            "rows": int(len(values)),
            "train_windows": int(len(windows.y_train)),
            "test_windows": int(len(windows.y_test)),
            "mean": float(np.nanmean(values)),
            "std": float(np.nanstd(values)),
            "min": float(np.nanmin(values)),
            "max": float(np.nanmax(values)),
        }
        manifest = build_manifest(
            exported, model_name, run_id, best.family, best.params["n_lags"], series.interval_seconds,
            windows.x_test, metrics, best.params, training_data,
        )
        model_info = _log_bundle(exported, manifest, windows.x_test)
        _verify_logged_file(model_info.model_id, manifest.onnx_sha256)

        version, change = register_version(
            make_client(tracking_uri),
            model_name,
            model_info.model_uri,
            run_id,
            model_info.model_id,
            {
                "model_family": best.family,
                "n_lags": str(best.params["n_lags"]),
                "onnx_sha256": manifest.onnx_sha256,
                "beats_naive": str(beats_naive).lower(),
            },
            alias or None,
        )
        mlflow.set_tag("registered_version", version)

    logger.info(
        "run %s: %s n_lags=%d test rmse %.4f (naive %.4f), registered %s version %s%s",
        run_id, best.family, best.params["n_lags"], metrics["rmse"], metrics["naive_rmse"], model_name, version,
        f" as {alias}" if change else "",
    )
    return TrainingResult(
        run_id=run_id,
        version=version,
        model_family=best.family,
        n_lags=int(best.params["n_lags"]),
        test_rmse=metrics["rmse"],
        naive_rmse=metrics["naive_rmse"],
        test_start=split.timestamp,
        test_start_iso=split.timestamp.strftime(TIMESTAMP_FORMAT),
        max_abs_onnx_diff=exported.max_abs_diff,
        test_mae=metrics["mae"],
        test_r2=metrics["r2"],
        beats_naive=beats_naive,
        params=dict(best.params),
        model_uri=model_info.model_uri,
        model_id=model_info.model_id,
        onnx_sha256=manifest.onnx_sha256,
        alias=alias or None,
        trials=len(search.trials),
        search_seconds=search.elapsed_seconds,
    )


def _check_search_settings(trials: int, seconds: float | None, cv_splits: int, test_fraction: float) -> None:
    """Reject settings the search cannot run with, before any MLflow run is created."""
    problems = []
    if trials < 1:
        problems.append(f"trials is {trials}, expected at least 1")
    if seconds is not None and seconds <= 0:
        problems.append(f"the time budget is {seconds:g} s, expected more than 0 (or none)")
    if cv_splits < 2:
        problems.append(f"cv_splits is {cv_splits}, expected at least 2 time-ordered folds")
    if not 0 < test_fraction < 1:
        problems.append(f"test_fraction is {test_fraction:g}, expected a share between 0 and 1, such as 0.2")
    if problems:
        raise CloudError("invalid training settings: " + "; ".join(problems))


def _log_trial(trial: Trial) -> None:
    with mlflow.start_run(run_name=f"trial-{trial.index:03d}-{trial.family}", nested=True):
        mlflow.log_params(trial.params | {"family": trial.family})
        mlflow.log_metrics({"cv_rmse": trial.cv_rmse, "cv_mae": trial.cv_mae, "seconds": trial.seconds})


def _log_plots(
    times: pd.Series, best: Trial, actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray
) -> None:
    title = f"{best.family} n_lags={best.params['n_lags']} on the test part"
    with tempfile.TemporaryDirectory() as folder:
        folder_path = Path(folder)
        plots.plot_predictions(times, actual, predicted, naive, folder_path / "predicted_vs_actual.png", title)
        plots.plot_residuals(times, actual - predicted, folder_path / "residuals.png", title)
        mlflow.log_artifacts(folder, artifact_path="plots")


def _log_bundle(exported: ExportedModel, manifest: Manifest, x_test: np.ndarray):
    """Log the ONNX model with the manifest as an extra file; return MLflow's ModelInfo."""
    proto = onnx.load_from_string(exported.onnx_bytes)
    example = np.asarray(x_test[:2], dtype=np.float32)
    signature = infer_signature(example, np.asarray(x_test[:2, -1:], dtype=np.float32))
    with tempfile.TemporaryDirectory() as folder:
        manifest_path = Path(folder) / MANIFEST_FILE
        manifest_path.write_text(manifest.to_json())
        started = time.monotonic()
        info = mlflow.onnx.log_model(
            proto,
            name="model",
            save_as_external_data=False,
            extra_files=[str(manifest_path)],
            signature=signature,
            input_example=example,
            onnx_execution_providers=["CPUExecutionProvider"],
        )
    logger.info("logged the bundle as %s in %.1f s", info.model_uri, time.monotonic() - started)
    return info


def _verify_logged_file(model_id: str, expected_sha256: str) -> None:
    """Download model.onnx back from the logged model and compare its digest with the manifest's."""
    # The file is fetched by its artifact location, which is what the agent resolves too;
    # models:/<model id>/model.onnx is not accepted by download_artifacts in MLflow 3.17.
    location = mlflow.get_logged_model(model_id).artifact_location
    uri = f"{location.rstrip('/')}/{ONNX_FILE}"
    with tempfile.TemporaryDirectory() as folder:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder))
        actual = sha256_hex(local.read_bytes())
    if actual != expected_sha256:
        raise BundleMismatchError(expected_sha256, actual, uri)
    logger.info("downloaded %s matches the manifest digest %s", uri, actual[:12])



