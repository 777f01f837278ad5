"""Failures the user sees first: an unreachable tracking server and a bad data file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from cloud.errors import CloudError, TrackingServerUnreachableError
from cloud.registry.connection import check_tracking_server
from cloud.training.pipeline import train_and_register



def free_port() -> int:
    # tests/conftest.py has the same helper, but `conftest` here resolves to tests/cloud/conftest.py.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_unreachable_server_fails_fast(synthetic_data):
    url = closed_url()
    started = time.monotonic()
    with pytest.raises(TrackingServerUnreachableError) as caught:
        train_and_register(synthetic_data.csv_path, url, budget_trials=1)
    assert time.monotonic() - started < 10
    assert caught.value.uri == url
    assert url in str(caught.value)
    assert "cps-cloud server" in str(caught.value)
    assert isinstance(caught.value, CloudError)


def test_health_check_passes_on_running_server(mlflow_server):
    check_tracking_server(mlflow_server.url)


def test_health_check_non_mlflow_answer(tmp_path):
    # A plain HTTP server that is not MLflow returns 404 for /health.
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                check_tracking_server(url, timeout=1)
            except TrackingServerUnreachableError as error:
                if "HTTP 404" in str(error):
                    break
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_cli(*arguments: str, cwd=None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    return subprocess.run([sys.executable, "-m", "cloud", *arguments], capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


def test_cli_train_unreachable_exit_code(synthetic_data):
    url = closed_url()
    completed = run_cli("train", str(synthetic_data.csv_path), "--tracking-uri", url, "--trials", "1")
    assert completed.returncode == 1
    assert url in completed.stderr
    assert "cps-cloud server" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_cli_collect_missing_column_exit_code(tmp_path):
    source = tmp_path / "raw.csv"
    source.write_text("when,temp_f\n2024-01-01 00:00,50\n")
    completed = run_cli("collect", str(source), "--value-column", "temperature", "--output-dir", str(tmp_path / "out"))
    assert completed.returncode == 1
    assert "'when', 'temp_f'" in completed.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_train_without_data_explains(tmp_path):
    completed = run_cli("train", cwd=tmp_path)
    assert completed.returncode == 1
    assert "cps-cloud collect" in completed.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"cv_splits": 1}, "cv_splits is 1, expected at least 2", id="one-fold"),
        pytest.param({"budget_trials": 0}, "trials is 0, expected at least 1", id="no-trials"),
        pytest.param({"budget_seconds": 0}, "time budget is 0 s", id="no-time"),
        pytest.param({"test_fraction": 1.5}, "test_fraction is 1.5", id="test-share"),
    ],
)
def test_bad_search_settings_create_no_run(synthetic_data, mlflow_server, settings, message):
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.url)
    experiment = client.get_experiment_by_name("bad-settings")
    runs_before = len(client.search_runs([experiment.experiment_id])) if experiment else 0

    with pytest.raises(CloudError, match=message):
        train_and_register(synthetic_data.csv_path, mlflow_server.url, experiment="bad-settings", **settings)

    experiment = client.get_experiment_by_name("bad-settings")
    assert (len(client.search_runs([experiment.experiment_id])) if experiment else 0) == runs_before
