"""The agent as a real process: ``cps-edge serve`` under waitress on a free loopback port."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from support import LOOPBACK, command_path, free_port, stop_process, tail, wait_for_http
from edge_agent.runtime.config import load_config
from edge_agent.runtime.server import exposure_warning, is_loopback
from edge_agent.runtime.store import ModelStore

from runtime_helpers import seed_store

TWELVE = [20.0 + index * 0.5 for index in range(12)]


class RunningAgent:
    def __init__(self, process: subprocess.Popen, port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str, payload=None, headers: dict | None = None):
        body = json.dumps(payload).encode() if payload is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        status, _, data = self.request(method, path, body, all_headers)
        return status, json.loads(data)


def start_agent(tmp_path: Path, extra_env: dict[str, str] | None = None, args: list[str] | None = None) -> RunningAgent:
    port = free_port()
    log_path = tmp_path / "agent.log"
    env = {key: value for key, value in os.environ.items() if key not in {"MLFLOW_TRACKING_URI", "AGENT_TOKEN", "SERIAL_PORT"}}
    env.update({"EDGE_STATE_DIR": str(tmp_path / "state"), "PORT": str(port), "HOST": LOOPBACK})
    env.update(extra_env or {})
    command = [command_path("cps-edge"), "serve", *(args or [])]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    wait_for_http(f"http://{LOOPBACK}:{port}/health/live", process, log_path, timeout=30)
    return RunningAgent(process, port, log_path)


@pytest.fixture
def seeded_agent(tmp_path):
    seed_store(ModelStore(tmp_path / "state"), {"1": "mean12", "2": "recent12"})
    agent = start_agent(tmp_path, {"AGENT_TOKEN": "s3cret", "MAX_BODY_BYTES": "4096"})
    yield agent
    stop_process(agent.process)


def test_serves_forecast_over_http(seeded_agent):
    status, body = seeded_agent.json("POST", "/predict", {"temperature_history": TWELVE})

    assert status == 200, body
    assert body["model_used"] == "temperature-forecaster v2 (linear)"
    weights = [index / 78 for index in range(1, 13)]
    assert body["predicted_temperature"] == pytest.approx(sum(w * v for w, v in zip(weights, TWELVE)) + 0.5, abs=1e-3)


def test_health_over_http(seeded_agent):
    status, body = seeded_agent.json("GET", "/health")

    assert status == 200
    assert body["status"] == "healthy"
    assert body["model_metadata"]["version"] == "2"
    assert body["sensor"] is None


def test_errors_keep_shape_over_http(seeded_agent):
    status, headers, data = seeded_agent.request("GET", "/no-such-endpoint")
    assert status == 404
    assert json.loads(data)["code"] == "not_found"

    status, body = seeded_agent.json("POST", "/predict", {"temperature_history": [1.0, None]})
    assert status == 422
    assert body["field"] == "temperature_history[1]"

    status, body = seeded_agent.json("POST", "/model/rollback")
    assert status == 401
    assert body["code"] == "missing_token"


def test_body_over_limit_over_http(seeded_agent):
    status, body = seeded_agent.json("POST", "/predict", {"temperature_history": [21.123456] * 600})

    assert status == 413
    assert body["code"] == "body_too_large"
    assert "4096" in body["description"]


def test_chunked_body_over_limit_over_http(seeded_agent):
    payload = json.dumps({"temperature_history": [21.123456] * 600}).encode()
    connection = http.client.HTTPConnection(LOOPBACK, seeded_agent.port, timeout=10)
    try:
        connection.request("POST", "/predict", body=iter([payload[:3000], payload[3000:]]),
                           headers={"Content-Type": "application/json"}, encode_chunked=True)
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 413
    assert body["code"] == "body_too_large"


def test_rollback_with_token_over_http(seeded_agent):
    status, body = seeded_agent.json("POST", "/model/rollback", headers={"Authorization": "Bearer s3cret"})

    assert status == 200, body
    assert (body["result"], body["version"], body["previous_version"]) == ("rolled_back", "1", "2")
    status, body = seeded_agent.json("GET", "/health")
    assert body["model_metadata"]["version"] == "1"


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_stops_cleanly_with_lifecycle_log(tmp_path, signal_number):
    seed_store(ModelStore(tmp_path / "state"), {"1": "mean12"})
    agent = start_agent(tmp_path, {"AGENT_TOKEN": "s3cret"})

    agent.process.send_signal(signal_number)
    exit_code = agent.process.wait(timeout=15)

    log = agent.log_path.read_text()
    assert exit_code == 0, tail(agent.log_path)
    sequence = ["starting edge agent", "model loaded: version 1", "no sensor configured",
                f"listening on http://127.0.0.1:{agent.port}", "shutting down", "stopped"]
    positions = [log.find(line) for line in sequence]
    assert -1 not in positions, log
    assert positions == sorted(positions), log
    assert "s3cret" not in log
    assert "'token': '***'" in log


def test_starts_without_model(tmp_path):
    agent = start_agent(tmp_path)
    try:
        status, body = agent.json("POST", "/predict", {"temperature_history": TWELVE})
        assert status == 503
        assert body["code"] == "no_model_loaded"
        status, body = agent.json("GET", "/health")
        assert body["status"] == "no_model"
    finally:
        stop_process(agent.process)
    assert "no model: no usable model in the store" in agent.log_path.read_text()


def test_sensor_on_loop_url(tmp_path):
    seed_store(ModelStore(tmp_path / "state"), {"1": "mean12"})
    agent = start_agent(tmp_path, {"SERIAL_PORT": "loop://"})
    try:
        status, body = agent.json("GET", "/health")
        assert body["sensor"]["port"] == "loop://"
        assert body["sensor"]["state"] == "connected"
        status, body = agent.json("GET", "/predict/live")
        assert status == 409
        assert body["code"] == "not_enough_readings"
    finally:
        stop_process(agent.process)
    log = agent.log_path.read_text()
    assert agent.process.returncode == 0, log
    assert "sensor started on loop://" in log
    assert log.index("shutting down") < log.index("stopped")


@pytest.mark.parametrize(
    "host, expected",
    [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("192.168.1.20", False), ("pi.local", False)],
)
def test_loopback_detection(host, expected):
    assert is_loopback(host) is expected


def test_warning_beyond_loopback_without_token():
    exposed = load_config(environ={"HOST": "0.0.0.0"})
    protected = load_config(environ={"HOST": "0.0.0.0", "AGENT_TOKEN": "s3cret"})

    assert "without AGENT_TOKEN" in exposure_warning(exposed)
    assert exposure_warning(protected) is None
    assert exposure_warning(load_config(environ={})) is None


def test_port_in_use_fails_cleanly(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = dict(os.environ, PORT=str(port), HOST=LOOPBACK, EDGE_STATE_DIR=str(tmp_path / "state"))
        environment.pop("MLFLOW_TRACKING_URI", None)
        environment.pop("SERIAL_PORT", None)

        result = subprocess.run(
            [command_path("cps-edge"), "serve"], capture_output=True, text=True, env=environment, timeout=60
        )

    assert result.returncode == 1
    assert f"cannot listen on {LOOPBACK}:{port}" in result.stderr
    assert "Traceback" not in result.stderr
