"""Shared data and one trained model for the cloud tests, built once per session."""

from __future__ import annotations


import pytest

from cloud.training.datasets import CollectedData, collect
from cloud.training.pipeline import TrainingResult, train_and_register

TEST_MODEL_NAME = "test-forecaster"


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> CollectedData:
    """Thirty days of hourly synthetic readings, cleaned and written by ``collect``."""
    return collect("synthetic", tmp_path_factory.mktemp("data"), synthetic_days=30, seed=3)


@pytest.fixture(scope="session")
def trained(mlflow_server, synthetic_data) -> TrainingResult:
    """One model per family tried, the best registered as TEST_MODEL_NAME@production."""
    return train_and_register(
        synthetic_data.csv_path,
        mlflow_server.url,
        model_name=TEST_MODEL_NAME,
        alias="production",
        budget_trials=3,
        budget_seconds=30,
        seed=0,
    )
