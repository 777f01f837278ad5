"""The model under test: a private MLflow server, the real data set, one training run, two versions.

The first version comes from the trainer's search (the default budget in a full run) and is the
model every HTTP, footprint and swap figure uses. A second version, a ridge model from one trial,
is registered without moving the alias; the swap benchmark alternates between the two. The
in-process comparison fits each family's default configuration on the same training windows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import LOOPBACK, Server, free_port, start_server, tool_path

logger = logging.getLogger(__name__)

MODEL_NAME = "temperature-forecaster"
ALIAS = "production"


@dataclass
class TrainedModels:
    """Data set, registered versions and wall time of the training step."""

    data_csv: Path
    rows: int
    first: Any  # cloud.training.pipeline.TrainingResult of the search
    second: Any  # the one-trial ridge version used by the swap benchmark
    training_seconds: float  # wall time of train_and_register for the search, export and registration


def start_tracking_server(root: Path) -> Server:
    """Start ``mlflow server`` on a free loopback port with an SQLite store and proxied artifacts."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        tool_path("mlflow"), "server", "--host", LOOPBACK, "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--workers", "1",
    ]
    return start_server("mlflow server", command, f"http://{LOOPBACK}:{port}", "/health", root / "mlflow-server.log", 180, cwd=root)


def train(tracking_uri: str, work: Path, trials: int, seconds: float | None) -> TrainedModels:
    """Collect the Seattle data set and register two versions; the first gets the alias."""
    from cloud.training.datasets import collect
    from cloud.training.pipeline import train_and_register

    collected = collect(source="seattle", output_dir=work / "data")
    started = time.perf_counter()
    first = train_and_register(
        collected.csv_path, tracking_uri, model_name=MODEL_NAME, alias=ALIAS,
        budget_trials=trials, budget_seconds=seconds, seed=0,
    )
    training_seconds = time.perf_counter() - started
    second = train_and_register(
        collected.csv_path, tracking_uri, model_name=MODEL_NAME, alias=None,
        budget_trials=1, budget_seconds=None, seed=1, families=["ridge"],
    )
    return TrainedModels(collected.csv_path, collected.rows, first, second, training_seconds)


@dataclass
class FamilyModel:
    """One family's default configuration fitted and exported, with test windows to predict."""

    family: str
    params: dict[str, Any]
    estimator: Any
    onnx_bytes: bytes
    x_test: Any  # float64 windows, shape (k, n_lags)
    max_abs_diff: float


def fit_family_models(
    data_csv: Path, families: list[str], seed: int = 0, max_train_windows: int | None = None
) -> list[FamilyModel]:
    """Fit and export the default configuration of each family on the data set's training windows.

    ``max_train_windows`` keeps only the most recent training windows, to make the smoke run fast.
    """
    import numpy as np

    from cloud.training.datasets import read_collected
    from cloud.training.export import export_checked
    from cloud.training.families import get_family
    from cloud.training.windows import split_point, windows_for

    series = read_collected(data_csv)
    values = series.frame["temperature_c"].to_numpy(dtype=np.float64)
    max_lags = max(max(get_family(name).grid["n_lags"]) for name in families)
    split = split_point(values, series.frame["timestamp"], max_lags)
    models = []
    for name in families:
        family = get_family(name)
        params = dict(family.default)
        windows = windows_for(values, params["n_lags"], split)
        x_train, y_train = windows.x_train, windows.y_train
        if max_train_windows is not None:
            x_train, y_train = x_train[-max_train_windows:], y_train[-max_train_windows:]
        estimator = family.build(params, seed).fit(x_train, y_train)
        exported = export_checked(estimator, name, params["n_lags"], windows.x_test, family.onnx_tolerance)
        models.append(FamilyModel(name, params, estimator, exported.onnx_bytes, windows.x_test, exported.max_abs_diff))
    return models
