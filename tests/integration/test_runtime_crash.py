"""The agent as a process: killed in the middle of pulls, and swapped a hundred times.

Both run the real agent (``cps-edge serve`` under waitress) against a real MLflow server, with
two published versions whose models give different, known forecasts.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from support import LOOPBACK, command_path, free_port, stop_process, wait_for_http
from runtime_registry_helpers import publish_fixture, unique_model_name

TWELVE = [20.0 + index * 0.5 for index in range(12)]
FORECASTS = {
    "mean12": sum(TWELVE) / 12,
    "recent12": sum((index + 1) / 78 * value for index, value in enumerate(TWELVE)) + 0.5,
}


class AgentProcess:
    """``cps-edge serve`` on a free port with its own log; the registry URL may point nowhere."""

    def __init__(self, state_dir: Path, registry_url: str, model_name: str, log_path: Path):
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log_path = log_path
        environment = dict(
            os.environ,
            MLFLOW_TRACKING_URI=registry_url,
            MODEL_NAME=model_name,
            EDGE_STATE_DIR=str(state_dir),
            PORT=str(self.port),
            HOST=LOOPBACK,
            PULL_ON_START="false",
        )
        environment.pop("SERIAL_PORT", None)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [command_path("cps-edge"), "serve"], stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        wait_for_http(f"{self.url}/health/live", self.process, log_path, timeout=30)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, payload: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(payload).encode() if payload is not None else b""
        request = urllib.request.Request(self.url + path, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def resident_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc status")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def reload_until_killed(agent: AgentProcess) -> None:
    """Request a pull; the agent is killed meanwhile, so a dropped connection is the expected end."""
    try:
        agent.post("/model/reload")
    except (urllib.error.URLError, ConnectionError, http.client.HTTPException):
        pass


@pytest.fixture
def two_versions(request, mlflow_server) -> tuple[str, dict[str, str]]:
    """A fresh registered model with version 1 = mean12 and version 2 = recent12."""
    name = unique_model_name(request.node.name)
    versions = {
        publish_fixture(mlflow_server, name, "mean12"): "mean12",
        publish_fixture(mlflow_server, name, "recent12"): "recent12",
    }
    return name, versions


def test_kill_during_pull_then_restart(tmp_path, mlflow_server, two_versions):
    model_name, versions = two_versions
    client = MlflowClient(mlflow_server.url)
    state_dir = tmp_path / "state"
    log_path = tmp_path / "agent.log"
    dead_registry = f"http://{LOOPBACK}:{free_port()}"
    chance = random.Random(7)

    client.set_registered_model_alias(model_name, "production", "1")
    first = AgentProcess(state_dir, mlflow_server.url, model_name, log_path)
    assert first.post("/model/reload")[1]["result"] == "swapped"
    stop_process(first.process)

    for attempt in range(8):
        target = "2" if attempt % 2 == 0 else "1"
        client.set_registered_model_alias(model_name, "production", target)
        agent = AgentProcess(state_dir, mlflow_server.url, model_name, log_path)
        pull = threading.Thread(target=reload_until_killed, args=(agent,), daemon=True)
        pull.start()
        time.sleep(chance.uniform(0.0, 0.12))
        agent.kill()

        # Restarted with the registry out of reach, the agent must serve a whole, checked model.
        restarted = AgentProcess(state_dir, dead_registry, model_name, log_path)
        try:
            health = restarted.get("/health")
            model = restarted.get("/model")
            assert health["model_loaded"] is True, health
            version = health["model_metadata"]["version"]
            assert version in versions
            assert model["active"]["version"] == version
            status, forecast = restarted.post("/predict", {"temperature_history": TWELVE})
            assert status == 200, forecast
            assert forecast["predicted_temperature"] == pytest.approx(FORECASTS[versions[version]], abs=1e-4)
        finally:
            stop_process(restarted.process)


def test_memory_flat_over_swaps(tmp_path, mlflow_server, two_versions):
    model_name, versions = two_versions
    client = MlflowClient(mlflow_server.url)
    agent = AgentProcess(tmp_path / "state", mlflow_server.url, model_name, tmp_path / "agent.log")
    resident = {}
    try:
        for swap in range(1, 101):
            version = list(versions)[swap % 2]
            client.set_registered_model_alias(model_name, "production", version)
            status, result = agent.post("/model/reload")
            assert status == 200, result
            assert result["version"] == version
            status, forecast = agent.post("/predict", {"temperature_history": TWELVE})
            assert forecast["predicted_temperature"] == pytest.approx(FORECASTS[versions[version]], abs=1e-4)
            if swap in (10, 100):
                resident[swap] = agent.resident_kib()
    finally:
        stop_process(agent.process)

    growth_mib = (resident[100] - resident[10]) / 1024
    assert growth_mib < 5, f"resident memory grew by {growth_mib:.1f} MiB from swap 10 to swap 100: {resident}"
