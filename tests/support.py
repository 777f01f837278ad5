"""Helpers shared by the tests: free loopback ports, starting and stopping real servers.

A module of its own, not conftest.py, so that test files import it by a name no other
conftest.py in the tree shadows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Poll ``url`` until it returns 200; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} before {url} answered:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    stop_process(process)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a server started by a fixture: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def command_path(name: str) -> str:
    """Find a console script installed next to the running interpreter."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"command {name!r} is not installed in this environment")
    return found


@dataclass
class MlflowServer:
    url: str
    backend_store_uri: str
    root: Path
    log_path: Path


def start_mlflow_server(root: Path, backend_store_uri: str | None = None) -> tuple[MlflowServer, subprocess.Popen]:
    """Start ``mlflow server`` on a free loopback port with proxied artifacts under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = backend_store_uri or f"sqlite:///{root / 'mlflow.db'}"
    log_path = root / "mlflow-server.log"
    command = [
        command_path("mlflow"),
        "server",
        "--host", LOOPBACK,
        "--port", str(port),
        "--backend-store-uri", backend,
        "--artifacts-destination", str(root / "artifacts"),
        "--workers", "1",
    ]
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    # As cps-cloud server does: MLflow 3.17's seven GenAI job consumers are not needed here.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env)
    url = f"http://{LOOPBACK}:{port}"
    wait_for_http(f"{url}/health", process, log_path, timeout=120)
    return MlflowServer(url, backend, root, log_path), process


def postgres_bin_dir() -> Path:
    """Find the server binaries of Debian's PostgreSQL package (newest version first)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), reverse=True)
    if not candidates:
        pytest.fail(
            "PostgreSQL's server is not installed; install Debian's package with "
            "`apt-get install -y postgresql` (.ci/run does this)"
        )
    return candidates[0].parent


def as_postgres_user(command: list[str]) -> list[str]:
    # The server refuses to run as root; CI and these machines run the tests as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command
