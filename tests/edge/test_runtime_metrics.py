"""GET /metrics: Prometheus text format with request, forecast, pull, model and sensor metrics."""

from __future__ import annotations

import json
import re

from runtime_helpers import Agent, BufferedSensor

SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$')


def metric_lines(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_metrics_count_requests_and_forecasts(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12"}, sensor=BufferedSensor(state="disconnected"))
    body = json.dumps({"temperature_history": [21.0] * 12})
    for _ in range(3):
        agent.client.simulate_post("/predict", body=body, headers={"Content-Type": "application/json"})
    agent.client.simulate_post("/predict", body="[]", headers={"Content-Type": "application/json"})
    agent.client.simulate_get("/nowhere")
    agent.client.simulate_post("/model/rollback")

    response = agent.client.simulate_get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = metric_lines(response.text)
    assert samples['edge_agent_http_requests_total{method="POST",route="/predict",status="200"}'] == 3
    assert samples['edge_agent_http_requests_total{method="POST",route="/predict",status="422"}'] == 1
    assert samples['edge_agent_http_requests_total{method="GET",route="unmatched",status="404"}'] == 1
    assert samples['edge_agent_http_request_duration_seconds_count{route="/predict"}'] == 4
    assert samples["edge_agent_forecasts_total"] == 3
    assert samples['edge_agent_pulls_total{result="rolled_back"}'] == 1
    assert samples["edge_agent_model_loaded"] == 1
    assert samples['edge_agent_model_info{model_name="temperature-forecaster",version="1",model_family="linear",n_lags="12"}'] == 1
    assert samples["edge_agent_sensor_connected"] == 0


def test_metrics_without_model(tmp_path):
    samples = metric_lines(Agent(tmp_path).client.simulate_get("/metrics").text)

    assert samples["edge_agent_model_loaded"] == 0
    assert not any(name.startswith("edge_agent_model_info") for name in samples)


def test_forecasts_counted_on_every_forecast_route(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})
    json_headers = {"Content-Type": "application/json"}
    history = [21.0] * 12

    agent.client.simulate_post("/predict", body=json.dumps({"temperature_history": history}), headers=json_headers)
    agent.client.simulate_post("/predict/batch", body=json.dumps({"histories": [history, history]}), headers=json_headers)
    infer = {"inputs": [{"name": "input", "shape": [1, 12], "datatype": "FP32", "data": history}]}
    v2 = agent.client.simulate_post("/v2/models/temperature-forecaster/infer", body=json.dumps(infer), headers=json_headers)

    assert v2.status_code == 200, v2.text
    samples = metric_lines(agent.client.simulate_get("/metrics").text)
    assert samples["edge_agent_forecasts_total"] == 3
