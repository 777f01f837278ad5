"""``cps-cloud server``: the command it builds, and a real start with allowed hosts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def cps_cloud_dry_run(*arguments: str, env_extra: dict[str, str] | None = None) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env.update(env_extra or {})
    completed = subprocess.run(
        [sys.executable, "-m", "cloud", "server", "--dry-run", *arguments],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )
    return completed.stdout.strip()


def option(command: str, name: str) -> str:
    parts = command.split()
    return parts[parts.index(name) + 1]


def test_server_defaults(tmp_path):
    command = cps_cloud_dry_run("--root", str(tmp_path))
    assert option(command, "--host") == "127.0.0.1"
    assert option(command, "--port") == "5000"
    assert option(command, "--backend-store-uri") == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert option(command, "--artifacts-destination") == str(tmp_path / "artifacts")
    assert "--serve-artifacts" in command.split()
    assert "--allowed-hosts" not in command


def test_server_postgres_from_env_is_redacted():
    command = cps_cloud_dry_run(env_extra={"MLFLOW_BACKEND_STORE_URI": "postgresql://mlflow:s3cret@db:5432/mlflow"})
    assert option(command, "--backend-store-uri") == "postgresql://mlflow:***@db:5432/mlflow"
    assert "s3cret" not in command


def test_server_flag_beats_env():
    command = cps_cloud_dry_run(
        "--backend-store-uri", "postgresql://a@db/x", "--allowed-hosts", "mlflow,mlflow:5000",
        env_extra={"MLFLOW_BACKEND_STORE_URI": "sqlite:///ignored.db"},
    )
    assert option(command, "--backend-store-uri") == "postgresql://a@db/x"
    allowed = option(command, "--allowed-hosts").split(",")
    assert {"mlflow", "mlflow:*", "mlflow:5000", "localhost", "127.0.0.1:*"} <= set(allowed)
    assert "mlflow:5000:*" not in allowed


def status_with_host(url: str, host: str) -> int:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_server_starts_and_accepts_named_host(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        # A new session, so teardown can stop mlflow and the workers it forks as one group.
        process = subprocess.Popen(
            [sys.executable, "-m", "cloud", "server", "--port", str(port), "--root", str(tmp_path / "store"),
             "--allowed-hosts", "mlflow", "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, process, log_path)
        # MLflow exempts /health from the Host check, so the REST API is probed instead.
        api = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
        assert (tmp_path / "store" / "mlflow.db").exists()
        assert status_with_host(api, f"127.0.0.1:{port}") == 200
        assert status_with_host(api, f"mlflow:{port}") == 200
        assert status_with_host(api, f"attacker.example:{port}") == 403
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


def wait_healthy(base: str, process: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if status_with_host(f"{base}/health", base.removeprefix("http://")) == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"server did not answer {base}/health:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
