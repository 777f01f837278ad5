"""POST /predict, GET /predict/live and GET /readings on an in-process app with the fixture model."""

from __future__ import annotations

import json

import pytest

from runtime_helpers import Agent, BufferedSensor, assert_error, fixture_bundle, write_bundle

TWELVE = [20.0, 20.5, 21.0, 21.5, 22.0, 22.5, 23.0, 23.5, 24.0, 24.5, 25.0, 25.5]


def post(agent: Agent, body) -> object:
    return agent.client.simulate_post("/predict", body=json.dumps(body), headers={"Content-Type": "application/json"})


def test_full_history_predicts_mean(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = post(agent, {"temperature_history": TWELVE})

    assert response.status_code == 200, response.text
    body = response.json
    assert body["predicted_temperature"] == pytest.approx(sum(TWELVE) / 12, abs=1e-4)
    assert body["unit"] == "degC"
    assert body["input_length"] == 12
    assert body["readings_used"] == 12
    assert body["padded"] == 0
    assert body["warnings"] == []
    assert body["model_used"] == "temperature-forecaster v1 (linear)"
    assert body["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert body["model_metadata"]["version"] == "1"
    assert body["model_metadata"]["rmse"] == 0.42


def test_short_history_padded_with_oldest(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})
    history = [22.5, 23.1, 22.8, 23.3, 22.9, 23.0]

    body = post(agent, {"temperature_history": history}).json

    expected = (6 * 22.5 + sum(history)) / 12
    assert body["predicted_temperature"] == pytest.approx(expected, abs=1e-4)
    assert body["input_length"] == 6
    assert body["readings_used"] == 12
    assert body["padded"] == 6
    assert len(body["warnings"]) == 1
    assert "repeated 6 times" in body["warnings"][0]


def test_short_history_without_padding_rejected(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = post(agent, {"temperature_history": [22.5, 23.1], "pad": False})

    body = assert_error(response, 422, "bad_history_length", "temperature_history")
    assert "2 readings" in body["description"]
    assert "12" in body["description"]


def test_long_history_uses_most_recent(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    body = post(agent, {"temperature_history": [-40.0] * 5 + TWELVE}).json

    assert body["predicted_temperature"] == pytest.approx(sum(TWELVE) / 12, abs=1e-4)
    assert body["input_length"] == 17
    assert body["padded"] == 0
    assert "oldest 5 were not used" in body["warnings"][0]


def test_integer_readings_accepted(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    body = post(agent, {"temperature_history": [21] * 12}).json

    assert body["predicted_temperature"] == pytest.approx(21.0, abs=1e-4)


def test_no_model_returns_503(tmp_path):
    agent = Agent(tmp_path)

    body = assert_error(post(agent, {"temperature_history": TWELVE}), 503, "no_model_loaded")

    assert "POST /model/reload" in body["description"]
    assert "'production'" in body["description"]
    assert "temperature-forecaster" in body["description"]


def test_max_history_configurable(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"}, max_history=20)

    response = post(agent, {"temperature_history": [20.0] * 21})

    body = assert_error(response, 422, "history_too_long", "temperature_history")
    assert "21" in body["description"]
    assert "20" in body["description"]


def test_float32_overflow_of_output_is_422(tmp_path):
    agent = Agent(tmp_path, {"1": "sum12"})

    # Each value fits float32, but the model's sum overflows to infinity.
    response = post(agent, {"temperature_history": [3.0e38] * 12})

    assert_error(response, 422, "prediction_not_finite", "temperature_history")


def test_live_forecast_from_sensor(tmp_path):
    sensor = BufferedSensor()
    sensor.add([18.0] * 3 + TWELVE)
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    response = agent.client.simulate_get("/predict/live")

    assert response.status_code == 200, response.text
    body = response.json
    assert body["predicted_temperature"] == pytest.approx(sum(TWELVE) / 12, abs=1e-4)
    assert [reading["value"] for reading in body["readings"]] == TWELVE
    assert body["span_seconds"] == 11 * 60
    assert body["first_reading_at"] == "2023-11-14T22:16:20.000Z"


def test_live_forecast_not_enough_readings(tmp_path):
    sensor = BufferedSensor()
    sensor.add(TWELVE[:5])
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    body = assert_error(agent.client.simulate_get("/predict/live"), 409, "not_enough_readings")

    assert "has 5 readings" in body["description"]
    assert "needs 12" in body["description"]


def test_live_forecast_ignores_readings_before_gap(tmp_path):
    sensor = BufferedSensor(gap_seconds=120)
    sensor.add(TWELVE, start=1_700_000_000.0)
    sensor.add(TWELVE[:4], start=1_700_010_000.0)
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    body = assert_error(agent.client.simulate_get("/predict/live"), 409, "not_enough_readings")

    assert "has 4 readings" in body["description"]


def test_live_forecast_sensor_disconnected(tmp_path):
    sensor = BufferedSensor(state="disconnected")
    sensor.add(TWELVE)
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    body = assert_error(agent.client.simulate_get("/predict/live"), 503, "sensor_disconnected")

    assert "device unplugged" in body["description"]


@pytest.mark.parametrize("path", ["/predict/live", "/readings"])
def test_sensor_endpoints_without_sensor(tmp_path, path):
    agent = Agent(tmp_path, {"1": "mean12"})

    body = assert_error(agent.client.simulate_get(path), 503, "no_sensor")

    assert "SERIAL_PORT" in body["description"]


def test_readings_latest_with_limit(tmp_path):
    sensor = BufferedSensor()
    sensor.add(TWELVE)
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    body = agent.client.simulate_get("/readings", params={"limit": "3"}).json

    assert body["count"] == 3
    assert [reading["value"] for reading in body["readings"]] == TWELVE[-3:]
    assert body["readings"][0]["unix_seconds"] == 1_700_000_000.0 + 9 * 60
    assert body["sensor"]["state"] == "connected"


def test_model_outputs_match_manifest_references(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})
    _, manifest = fixture_bundle("mean12")

    for row, expected in zip(manifest["reference_inputs"], manifest["reference_outputs"]):
        body = post(agent, {"temperature_history": row}).json
        assert body["predicted_temperature"] == pytest.approx(expected, abs=1e-4)


def test_below_absolute_zero_rejected(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    for path, body, field in [
        ("/predict", {"temperature_history": [-300.0, 20.0]}, "temperature_history[0]"),
        ("/predict/batch", {"histories": [[20.0], [20.0, -274]]}, "histories[1][1]"),
    ]:
        response = agent.client.simulate_post(path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        error = assert_error(response, 422, "value_out_of_range", field)
        assert "below absolute zero" in error["description"]


def test_readings_outside_training_range_warned(tmp_path):
    model, manifest = fixture_bundle("mean12")
    manifest["training_data"] = {"min": -5.0, "max": 30.0}
    store_dir = tmp_path / "state"
    agent = Agent(store_dir)
    staged = write_bundle(agent.store.new_staging_dir(), model, manifest)
    agent.store.install("1", staged)
    agent.store.activate("1")
    agent = Agent(store_dir)

    inside = post(agent, {"temperature_history": TWELVE}).json
    outside = post(agent, {"temperature_history": [45.0] * 3 + TWELVE[3:]}).json

    assert inside["warnings"] == []
    assert len(outside["warnings"]) == 1
    assert "3 readings are outside the range the model was trained on (-5.0 to 30.0 °C)" in outside["warnings"][0]
