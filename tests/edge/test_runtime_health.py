"""GET /health and the probes tell the truth about model, sensor and last pull."""

from __future__ import annotations

import re

from runtime_helpers import Agent, BufferedSensor, assert_error

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_health_without_model(tmp_path):
    agent = Agent(tmp_path)

    body = agent.client.simulate_get("/health").json

    assert body["status"] == "no_model"
    assert body["model_loaded"] is False
    assert body["model_metadata"] is None
    assert body["sensor"] is None
    assert body["last_pull"] is None
    assert ISO_UTC.match(body["timestamp"])


def test_health_with_model_and_sensor(tmp_path):
    sensor = BufferedSensor()
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    body = agent.client.simulate_get("/health").json

    assert body["status"] == "healthy"
    assert body["model_loaded"] is True
    assert body["model_metadata"]["version"] == "1"
    assert body["model_metadata"]["run_id"] == "fixture-mean12"
    assert body["model_metadata"]["rmse"] == 0.42
    assert body["model_metadata"]["n_lags"] == 12
    assert body["sensor"]["state"] == "connected"
    assert body["last_pull"]["result"] == "loaded"


def test_health_degraded_when_sensor_disconnected(tmp_path):
    sensor = BufferedSensor(state="disconnected")
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    body = agent.client.simulate_get("/health").json

    assert body["status"] == "degraded"
    assert "the sensor is disconnected" in body["reasons"]


def test_health_degraded_after_failed_pull(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})
    agent.client.simulate_post("/model/reload")

    body = agent.client.simulate_get("/health").json

    assert body["status"] == "degraded"
    assert body["last_pull"]["result"] == "failed"
    assert body["last_pull"]["error_code"] == "registry_not_configured"
    assert body["model_metadata"]["version"] == "1"


def test_ready_probe_follows_model(tmp_path):
    assert_error(Agent(tmp_path / "empty").client.simulate_get("/health/ready"), 503, "no_model_loaded")

    response = Agent(tmp_path / "seeded", {"1": "mean12"}).client.simulate_get("/health/ready")

    assert response.status_code == 200
    assert response.json == {"status": "ready", "version": "1"}


def test_live_probe_always_answers(tmp_path):
    response = Agent(tmp_path).client.simulate_get("/health/live")

    assert response.status_code == 200
    assert response.json == {"status": "alive"}
