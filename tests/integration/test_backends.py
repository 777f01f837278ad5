"""The cloud-to-edge flow on both backend stores: SQLite (the default) and PostgreSQL (production).

Each case starts ``cps-cloud server`` as a user would, trains and registers two versions, lets
``cps-edge pull`` fetch the alias over HTTP, rolls the alias back from the command line and pulls
again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import LOOPBACK, command_path, free_port, stop_process, wait_for_http


def start_cloud_server(root, backend_store_uri: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    log_path = root / "server.log"
    command = [
        command_path("cps-cloud"), "server",
        "--host", LOOPBACK,
        "--port", str(port),
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(root / "artifacts"),
        "--workers", "1",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://{LOOPBACK}:{port}"
    wait_for_http(f"{url}/health", process, log_path, timeout=120)
    return url, process


def run_cli(command: list[str], tracking_uri: str, state_dir=None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri)
    if state_dir is not None:
        environment["EDGE_STATE_DIR"] = str(state_dir)
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_store_uri(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("postgres_uri")


def test_flow_on_backend(tmp_path, backend_store_uri):
    from cloud.training.datasets import collect
    from cloud.training.pipeline import train_and_register

    url, server = start_cloud_server(tmp_path, backend_store_uri)
    try:
        data = collect("synthetic", output_dir=tmp_path / "data", synthetic_days=30, seed=3)
        first = train_and_register(data.csv_path, url, families=["ridge"], budget_trials=2, budget_seconds=None)
        second = train_and_register(data.csv_path, url, families=["ridge"], budget_trials=3, budget_seconds=None, seed=1)
        assert int(second.version) == int(first.version) + 1

        versions = run_cli([command_path("cps-cloud"), "versions"], url)
        assert versions.returncode == 0, versions.stderr
        assert "production" in versions.stdout

        state_dir = tmp_path / "edge-state"
        pulled = run_cli([sys.executable, "-m", "edge_agent", "pull"], url, state_dir)
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["version"] == second.version

        rolled_back = run_cli([command_path("cps-cloud"), "rollback"], url)
        assert rolled_back.returncode == 0, rolled_back.stderr

        pulled_again = run_cli([sys.executable, "-m", "edge_agent", "pull"], url, state_dir)
        assert pulled_again.returncode == 0, pulled_again.stderr
        result = json.loads(pulled_again.stdout)
        assert result["version"] == first.version
        assert result["previous_version"] == second.version
    finally:
        stop_process(server)
