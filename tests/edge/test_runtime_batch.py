"""POST /predict/batch on an in-process app with the fixture models."""

from __future__ import annotations

import json

import pytest

from runtime_helpers import Agent, assert_error

TWELVE = [20.0, 20.5, 21.0, 21.5, 22.0, 22.5, 23.0, 23.5, 24.0, 24.5, 25.0, 25.5]


def post_batch(agent: Agent, body) -> object:
    return agent.client.simulate_post("/predict/batch", body=json.dumps(body), headers={"Content-Type": "application/json"})


def test_batch_predicts_each_history(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})
    shifted = [value + 1.0 for value in TWELVE]

    response = post_batch(agent, {"histories": [TWELVE, shifted]})

    assert response.status_code == 200, response.text
    body = response.json
    assert body["count"] == 2
    assert body["predicted_temperatures"] == pytest.approx([sum(TWELVE) / 12, sum(shifted) / 12], abs=1e-4)
    assert body["padded"] == [0, 0]
    assert body["warnings"] == []
    assert body["model_used"] == "temperature-forecaster v1 (linear)"


def test_batch_matches_single_predictions(tmp_path):
    agent = Agent(tmp_path, {"1": "recent12"})
    histories = [TWELVE, TWELVE[:5], [30.0] * 20]

    batch = post_batch(agent, {"histories": histories}).json
    singles = [
        agent.client.simulate_post(
            "/predict", body=json.dumps({"temperature_history": history}), headers={"Content-Type": "application/json"}
        ).json["predicted_temperature"]
        for history in histories
    ]

    assert batch["predicted_temperatures"] == pytest.approx(singles, abs=1e-4)
    assert batch["padded"] == [0, 7, 0]
    assert "1 of 3 histories" in batch["warnings"][0]


def test_batch_of_thousand_histories(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})
    histories = [[float(row % 30)] * 12 for row in range(1000)]

    body = post_batch(agent, {"histories": histories}).json

    assert body["count"] == 1000
    assert body["predicted_temperatures"][:3] == pytest.approx([0.0, 1.0, 2.0], abs=1e-4)
    assert body["predicted_temperatures"][999] == pytest.approx(999 % 30, abs=1e-4)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({}, "missing_field", "histories", id="missing"),
        pytest.param({"histories": TWELVE}, "not_a_list", "histories[0]", id="flat-list"),
        pytest.param({"histories": "x"}, "not_a_list", "histories", id="string"),
        pytest.param({"histories": []}, "empty_batch", "histories", id="empty"),
        pytest.param({"histories": [TWELVE, []]}, "empty_history", "histories[1]", id="empty-history"),
        pytest.param({"histories": [TWELVE, [1.0, "2"]]}, "not_a_number", "histories[1][1]", id="string-value"),
        pytest.param({"histories": [[True] * 12]}, "not_a_number", "histories[0][0]", id="boolean"),
        pytest.param({"histories": [[1.0, None]]}, "not_a_number", "histories[0][1]", id="null"),
        pytest.param({"histories": [[1e39]]}, "value_out_of_range", "histories[0][0]", id="overflow"),
        pytest.param({"histories": [TWELVE[:3]], "pad": False}, "bad_history_length", "histories[0]", id="short-no-pad"),
        pytest.param({"histories": [TWELVE] * 1001}, "batch_too_large", "histories", id="too-many"),
        pytest.param({"histories": [TWELVE], "extra": 1}, "unknown_field", "extra", id="unknown-field"),
        pytest.param({"histories": [TWELVE], "pad": "yes"}, "not_a_boolean", "pad", id="pad-string"),
    ],
)
def test_batch_bad_input_named(tmp_path, body, code, field):
    agent = Agent(tmp_path, {"1": "mean12"})

    assert_error(post_batch(agent, body), 422, code, field)


def test_batch_nan_named(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = agent.client.simulate_post(
        "/predict/batch", body='{"histories": [[1.0, 2.0], [NaN]]}', headers={"Content-Type": "application/json"}
    )

    assert_error(response, 422, "non_finite_value", "histories[1][0]")


def test_batch_without_model_is_503(tmp_path):
    agent = Agent(tmp_path)

    assert_error(post_batch(agent, {"histories": [TWELVE]}), 503, "no_model_loaded")
