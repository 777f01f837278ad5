"""The agent stays light: serving imports none of the training stack.

The agent runs under ``python -X importtime``, which logs every module it imports, with a model
loaded and a sensor attached, and answers real requests before it is stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

from support import LOOPBACK, free_port, stop_process, wait_for_http
from runtime_helpers import seed_store

from edge_agent.runtime.store import ModelStore

FORBIDDEN = {"sklearn", "pandas", "scipy", "mlflow", "skl2onnx", "onnx", "requests", "matplotlib"}


def imported_top_level_modules(importtime_log: str) -> set[str]:
    modules = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and not name.startswith("package"):
                modules.add(name.split(".")[0])
    return modules


def test_serving_imports_no_training_stack(tmp_path):
    seed_store(ModelStore(tmp_path / "state"), {"1": "mean12"})
    port = free_port()
    log_path = tmp_path / "agent.log"
    environment = dict(os.environ, EDGE_STATE_DIR=str(tmp_path / "state"), PORT=str(port), HOST=LOOPBACK, SERIAL_PORT="loop://")
    environment.pop("MLFLOW_TRACKING_URI", None)
    with open(log_path, "wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "edge_agent", "serve"], stderr=log, stdout=log, env=environment
        )
    try:
        wait_for_http(f"http://{LOOPBACK}:{port}/health", agent, log_path, timeout=30)
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{port}/predict",
            data=json.dumps({"temperature_history": [21.0] * 12}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        stop_process(agent)

    modules = imported_top_level_modules(log_path.read_text(errors="replace"))
    assert {"onnxruntime", "falcon", "waitress", "serial", "numpy"} <= modules
    assert modules & FORBIDDEN == set()
