"""Known answer: the order of the lag features is the same from training to the agent.

The series is a level plus two sinusoids (periods of 24 and 7 readings), which follows the linear
recurrence of order 4

    x(t+1) - L = (a + b) (x(t) - L) - (2 + ab) (x(t-1) - L) + (a + b) (x(t-2) - L) - (x(t-3) - L)

with a = 2 cos(2π/24) and b = 2 cos(2π/7). Every window of any trajectory with the same level L,
whatever the amplitudes and phases, has this exact linear forecast. A linear model trained on one
trajectory, exported, registered, pulled by the agent over HTTP and sent the history of another
must return the value the recurrence gives. A reversed window or a forecast of the last reading
instead of the next gives values far from it, so this test catches either mistake.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from support import LOOPBACK, command_path, free_port, stop_process, wait_for_http

LEVEL = 15.0
A = 2 * math.cos(2 * math.pi / 24)
B = 2 * math.cos(2 * math.pi / 7)
COEFFICIENTS = (-1.0, A + B, -(2 + A * B), A + B)  # applied to x(t-3) .. x(t): oldest first


def recurrence_next(history: list[float]) -> float:
    deviations = [value - LEVEL for value in history[-4:]]
    return LEVEL + sum(weight * value for weight, value in zip(COEFFICIENTS, deviations))


def recurrence_series(amplitudes: tuple[float, float], phases: tuple[float, float], length: int) -> list[float]:
    return [
        LEVEL
        + amplitudes[0] * math.sin(2 * math.pi * step / 24 + phases[0])
        + amplitudes[1] * math.sin(2 * math.pi * step / 7 + phases[1])
        for step in range(length)
    ]


def write_series_csv(path, values: list[float]) -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["timestamp", "temperature_c"])
        for step, value in enumerate(values):
            writer.writerow([(start + timedelta(hours=step)).strftime("%Y-%m-%dT%H:%M:%SZ"), f"{value:.10f}"])


def post_json(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_recurrence_value_through_agent(tmp_path, mlflow_server):
    from cloud.training.datasets import collect
    from cloud.training.pipeline import train_and_register

    training = recurrence_series(amplitudes=(6.0, 2.0), phases=(0.3, 1.0), length=24 * 60)
    assert recurrence_next(training[:4]) == pytest.approx(training[4], abs=1e-9)
    write_series_csv(tmp_path / "recurrence.csv", training)
    data = collect(tmp_path / "recurrence.csv", output_dir=tmp_path / "data", value_column="temperature_c", unit="C")
    result = train_and_register(
        data.csv_path,
        tracking_uri=mlflow_server.url,
        model_name="lag-order-known-answer",
        families=["ridge"],
        budget_trials=4,
        budget_seconds=None,
    )

    port = free_port()
    log_path = tmp_path / "agent.log"
    environment = dict(
        os.environ,
        MLFLOW_TRACKING_URI=mlflow_server.url,
        MODEL_NAME="lag-order-known-answer",
        EDGE_STATE_DIR=str(tmp_path / "edge-state"),
        PORT=str(port),
        HOST=LOOPBACK,
    )
    environment.pop("SERIAL_PORT", None)
    with open(log_path, "wb") as log:
        agent = subprocess.Popen([command_path("cps-edge"), "serve"], stdout=log, stderr=subprocess.STDOUT, env=environment)
    try:
        base = f"http://{LOOPBACK}:{port}"
        wait_for_http(f"{base}/health", agent, log_path, timeout=30)
        deadline = time.monotonic() + 60
        while get_json(f"{base}/health")["model_metadata"] is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert get_json(f"{base}/health")["model_metadata"]["version"] == result.version

        # Other amplitudes and phases: the model never saw this trajectory.
        # Step 27 of it is where a reversed window or the last reading is off by more than 1 °C for
        # every n_lags the search may pick (6, 12 or 24).
        unseen = recurrence_series(amplitudes=(3.5, 4.0), phases=(2.1, -0.7), length=28)
        history, truth = unseen[27 - result.n_lags : 27], unseen[27]
        expected = recurrence_next(history)
        assert expected == pytest.approx(truth, abs=1e-9)

        predicted = post_json(f"{base}/predict", {"temperature_history": history})["predicted_temperature"]
    finally:
        stop_process(agent)

    reversed_window = recurrence_next(list(reversed(history)))
    assert abs(expected - reversed_window) > 1.0
    assert abs(expected - history[-1]) > 1.0
    assert predicted == pytest.approx(expected, abs=0.02)
