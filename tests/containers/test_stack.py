"""The compose stack end to end: build, collect, train, register, pull, forecast, back up, restore.

One module-scoped stack is built from the stand-in base image and started through
docker/manage.sh. It has a unique compose project name, its own container names, free loopback
ports and a temporary data folder, so it runs beside a developer's own stack. It is always taken
down, volumes included, when the module ends.

Timings measured on a 2-core machine shared with other work: 76 s with every image layer
cached, 4.6 minutes when changed sources rebuild the project layers. Without any cache the
dependency layers add about 3 minutes (an estimate from the separate build times).
"""

from __future__ import annotations

import json
import math
import os
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import free_port
from dockerenv import DOCKER, PIP_CERT_FILE, REPO, http_get, http_post_json, poll_json, require_docker, run

pytestmark = pytest.mark.timeout(1800)

MANAGE = str(REPO / "docker" / "manage.sh")
MODEL_NAME = "temperature-forecaster"
BUILD_TIMEOUT = 1500
START_TIMEOUT = 900


@dataclass(frozen=True)
class Stack:
    """A running stack: where its ports and files are, and the environment manage.sh needs."""

    env: dict[str, str]
    data_root: Path
    mlflow_url: str
    api_url: str

    def manage(self, *args: str, timeout: float = 300, check: bool = True):
        return run([MANAGE, *args], timeout=timeout, env=self.env, check=check)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base_image = require_docker("linux/amd64")
    project = f"cpstest{uuid.uuid4().hex[:8]}"
    data_root = tmp_path_factory.mktemp("stack")
    mlflow_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "DOCKER": DOCKER,
        "DOCKER_BUILDKIT": "1",
        "COMPOSE_PROJECT_NAME": project,
        "CPS_CONTAINER_PREFIX": project,
        "CPS_DATA_ROOT": str(data_root),
        "CPS_BIND_ADDRESS": "127.0.0.1",
        "MLFLOW_PORT": str(mlflow_port),
        "API_PORT": str(api_port),
        "CPS_IMAGE_TAG": "containertest",
        "BASE_IMAGE": base_image,
        "PIP_CERT_FILE": PIP_CERT_FILE,
        # A small search keeps training to seconds; the full search is the cloud tests' job.
        "TRAIN_FAMILIES": "ridge",
        "TRAIN_TRIALS": "2",
        "TRAIN_SECONDS": "20",
        "SENSOR_RATE": "20",
        "POLL_INTERVAL_SECONDS": "5",
        "WAIT_SECONDS": str(START_TIMEOUT - 60),
    }
    env.pop("POSTGRES_PASSWORD", None)
    stack = Stack(env, data_root, f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{api_port}")

    run([MANAGE, "build"], timeout=BUILD_TIMEOUT, env=env)
    try:
        started = run([MANAGE, "start"], timeout=START_TIMEOUT, env=env, check=False)
        if started.returncode != 0:
            logs = run([MANAGE, "logs"], timeout=60, env=env, check=False)
            pytest.fail(
                f"manage.sh start exited with {started.returncode}:\n{started.stderr[-4000:]}\n"
                f"--- service logs ---\n{logs.stdout[-12000:]}"
            )
        yield stack
    finally:
        run([MANAGE, "clean"], timeout=300, env=env, check=False)


def registry_alias_version(stack: Stack, alias: str = "production") -> str:
    status, raw = http_get(f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/alias?name={MODEL_NAME}&alias={alias}")
    assert status == 200, f"alias lookup returned {status}: {raw[:500]!r}"
    return json.loads(raw)["model_version"]["version"]


def registered_model_names(stack: Stack) -> list[str]:
    body = poll_json(f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/search?max_results=100", lambda body: True, timeout=60)
    return [model["name"] for model in body.get("registered_models", [])]


def test_status_reports_all_healthy(stack: Stack) -> None:
    result = stack.manage("status")
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"mlflow-server", "data-collector", "model-trainer", "prediction-api", "sensor-simulator"}
    for job in ("data-collector", "model-trainer"):
        assert rows[job][0] == "exited", rows
        assert rows[job][-1] == "0", rows
    for service in ("mlflow-server", "prediction-api", "sensor-simulator"):
        assert rows[service][:2] == ["running", "healthy"], rows


def test_mlflow_dashboard_answers(stack: Stack) -> None:
    status, body = http_get(f"{stack.mlflow_url}/")
    assert status == 200
    assert b"MLflow" in body or b"mlflow" in body
    status, body = http_get(f"{stack.mlflow_url}/health")
    assert status == 200
    assert body.strip() == b"OK"


def test_jobs_write_data_and_logs_to_host(stack: Stack) -> None:
    datasets = sorted((stack.data_root / "data").glob("temperatures-*.csv"))
    assert datasets, f"no temperatures-*.csv in {stack.data_root / 'data'}"
    assert datasets[-1].stat().st_size > 10_000
    for job in ("data-collector", "model-trainer"):
        log = stack.data_root / "logs" / f"{job}.log"
        assert log.is_file(), f"{log} missing"
        assert log.stat().st_size > 0
    assert (stack.data_root / "mlruns" / "mlflow.db").is_file()


def test_trainer_registered_alias(stack: Stack) -> None:
    assert registry_alias_version(stack) == "1"


def test_agent_pulled_model_over_http(stack: Stack) -> None:
    health = poll_json(f"{stack.api_url}/health", lambda body: body.get("model_loaded"), timeout=120)
    assert health["model_metadata"]["model_name"] == MODEL_NAME
    assert health["model_metadata"]["version"] == registry_alias_version(stack)
    assert health["last_pull"]["result"] in {"swapped", "already_active"}, health["last_pull"]


def test_forecast_from_simulated_sensor(stack: Stack) -> None:
    health = poll_json(
        f"{stack.api_url}/health",
        lambda body: body["sensor"]["state"] == "connected" and body["sensor"]["readings"] > 0,
        timeout=120,
    )
    assert health["sensor"]["port"] == "socket://sensor-simulator:7000"

    forecast = poll_json(f"{stack.api_url}/predict/live", lambda body: "predicted_temperature" in body, timeout=120)
    n_lags = health["model_metadata"]["n_lags"]
    assert forecast["readings_used"] == n_lags
    assert math.isfinite(forecast["predicted_temperature"])
    # The simulator replays Seattle temperatures; a forecast far outside them is a broken pipeline.
    assert -30 < forecast["predicted_temperature"] < 50


def test_backup_and_restore(stack: Stack) -> None:
    archive = Path(stack.manage("backup").stdout.strip().splitlines()[-1])
    assert archive.is_file()
    with tarfile.open(archive) as backup:
        names = backup.getnames()
    assert "./mlflow.db" in names
    assert "./BACKUP_INFO" in names
    assert any(name.endswith("/model.onnx") for name in names), names

    status, _ = http_post_json(f"{stack.mlflow_url}/api/2.0/mlflow/registered-models/create", {"name": "created-after-backup"})
    assert status == 200
    assert "created-after-backup" in registered_model_names(stack)

    stack.manage("restore", str(archive), timeout=600)

    names_after = registered_model_names(stack)
    assert "created-after-backup" not in names_after
    assert MODEL_NAME in names_after
    assert registry_alias_version(stack) == "1"
    restored_models = list((stack.data_root / "mlruns" / "artifacts").rglob("model.onnx"))
    assert restored_models, "no model.onnx under the restored artifacts"
    # The agent keeps serving through the server restart.
    status, _ = http_get(f"{stack.api_url}/health/ready")
    assert status == 200


def test_restore_rejects_missing_archive(stack: Stack) -> None:
    result = stack.manage("restore", str(stack.data_root / "no-such-backup.tar.gz"), check=False)
    assert result.returncode != 0
    assert "not found" in result.stderr


def test_production_needs_postgres_password() -> None:
    require_docker("linux/amd64")
    env = {key: value for key, value in os.environ.items() if key != "POSTGRES_PASSWORD"}
    config = run(
        [DOCKER, "compose", "-f", "docker-compose.yml", "-f", "docker/compose.production.yml", "--profile", "production", "config", "--quiet"],
        timeout=60,
        env=env,
        check=False,
    )
    assert config.returncode != 0
    assert "POSTGRES_PASSWORD" in config.stderr

    start = run([MANAGE, "start-prod"], timeout=60, env={**env, "DOCKER": DOCKER}, check=False)
    assert start.returncode != 0
    assert "POSTGRES_PASSWORD" in start.stderr

    with_password = run(
        [DOCKER, "compose", "-f", "docker-compose.yml", "-f", "docker/compose.production.yml", "--profile", "production", "config", "--format", "json"],
        timeout=60,
        env={**env, "POSTGRES_PASSWORD": "test-only-password"},
    )
    services = json.loads(with_password.stdout)["services"]
    assert services["mlflow-server"]["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql://mlflow:")
    assert services["postgres"]["ports"][0]["host_ip"] == "127.0.0.1"
