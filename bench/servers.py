"""The three HTTP servers compared: the edge agent, ``mlflow models serve`` and the bare app."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.procs import LOOPBACK, BenchError, Server, bench_env, free_port, start_server, tool_path

REPO_ROOT = Path(__file__).resolve().parent.parent


def pull_model(registry_url: str, state_dir: Path, model_name: str, alias: str) -> str:
    """Run ``cps-edge pull`` into ``state_dir``; return the active version. Raises BenchError on failure."""
    command = [
        tool_path("cps-edge"), "pull", "--registry-url", registry_url, "--state-dir", str(state_dir),
        "--model-name", model_name, "--model-alias", alias,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=bench_env(), timeout=300)
    if completed.returncode != 0:
        raise BenchError(f"`cps-edge pull` failed with status {completed.returncode}:\n{completed.stderr[-2000:]}")
    return json.loads((state_dir / "active.json").read_text())["version"]


def active_bundle(state_dir: Path) -> tuple[Path, dict]:
    """Return the active version's ONNX file and its parsed manifest."""
    version = json.loads((state_dir / "active.json").read_text())["version"]
    folder = state_dir / "models" / version
    return folder / "model.onnx", json.loads((folder / "edge_manifest.json").read_text())


def start_agent(
    state_dir: Path, log_path: Path, registry_url: str | None = None, serial_port: str | None = None,
    model_name: str | None = None,
) -> Server:
    """Start ``cps-edge serve`` on a free port with the store in ``state_dir``; ready on /health/ready.

    No pull at start: the model on disk serves, so the registry is needed only for reloads.
    """
    port = free_port()
    command = [
        tool_path("cps-edge"), "--log-level", "WARNING", "serve", "--state-dir", str(state_dir),
        "--host", LOOPBACK, "--port", str(port), "--no-pull-on-start",
    ]
    if registry_url:
        command += ["--registry-url", registry_url]
    if model_name:
        command += ["--model-name", model_name]
    if serial_port:
        command += ["--serial-port", serial_port]
    return start_server("edge agent", command, f"http://{LOOPBACK}:{port}", "/health/ready", log_path, 60)


def start_mlflow_serving(tracking_uri: str, model_name: str, version: str, log_path: Path) -> Server:
    """Start ``mlflow models serve`` for a registered version with one uvicorn worker; ready on /ping."""
    port = free_port()
    command = [
        tool_path("mlflow"), "models", "serve", "-m", f"models:/{model_name}/{version}", "--env-manager", "local",
        "-h", LOOPBACK, "-p", str(port), "-w", "1",
    ]
    env = bench_env()  # the venv's bin on PATH, because mlflow runs uvicorn from there
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return start_server("mlflow models serve", command, f"http://{LOOPBACK}:{port}", "/ping", log_path, 180, env=env)


def start_bare_app(onnx_path: Path, log_path: Path, threads: int = 4) -> Server:
    """Start :mod:`bench.bare_app` with ``threads`` waitress threads, the agent's default."""
    port = free_port()
    env = bench_env()
    env["PYTHONPATH"] = f"{REPO_ROOT}:{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(REPO_ROOT)
    command = [sys.executable, "-m", "bench.bare_app", str(onnx_path), str(port), str(threads)]
    return start_server("bare app", command, f"http://{LOOPBACK}:{port}", "/ready", log_path, 60, env=env)
