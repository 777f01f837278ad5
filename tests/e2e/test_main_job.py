"""The README's first command, end to end: real MLflow server, real pseudo-terminal, agent under waitress.

The demo runs twice in the same folder, as a user would run it on two days: the second run must
register the next version and the agent must swap to it without any cleaning up by hand.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support import LOOPBACK, free_port

READY_LINE = "Press Ctrl-C to stop everything."


class DemoRun:
    """One ``cps-cloud demo`` process with its output collected line by line."""

    def __init__(self, workdir: Path, mlflow_port: int, agent_port: int):
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        command = [
            sys.executable, "-m", "cloud", "demo",
            "--workdir", str(workdir),
            "--mlflow-port", str(mlflow_port),
            "--agent-port", str(agent_port),
            "--rate", "20",
            "--trials", "3",
            "--seconds", "60",
        ]
        # Started with SIGINT ignored, as a shell starts a background job: the demo must still
        # stop on it.
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=workdir,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if text in line:
                return
        pytest.fail(f"demo did not print {text!r} in {timeout} s; its output:\n" + "\n".join(self.output[-80:]))

    def registered_version(self) -> str:
        for line in self.output:
            match = re.search(r"registered \S+ version (\d+)", line)
            if match:
                return match.group(1)
        pytest.fail("demo output names no registered version:\n" + "\n".join(self.output))

    def interrupt(self) -> int:
        """Send Ctrl-C's signal; if the demo does not exit, SIGTERM it and fail the test."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=60)
            pytest.fail("demo did not exit within 60 s of SIGINT:\n" + "\n".join(self.output[-40:]))


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post_json(url: str, payload: dict | None) -> tuple[int, dict]:
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def nothing_listens(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect((LOOPBACK, port))
        except ConnectionRefusedError:
            return True
        return False


def wait_until_free(port: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if nothing_listens(port):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.timeout(1500)
def test_demo_trains_serves_and_reruns(tmp_path):
    mlflow_port, agent_port = free_port(), free_port()
    agent = f"http://{LOOPBACK}:{agent_port}"

    first = DemoRun(tmp_path, mlflow_port, agent_port)
    try:
        first.wait_for(READY_LINE, timeout=900)
        version = first.registered_version()

        status, health = get_json(f"{agent}/health")
        assert status == 200
        assert health["status"] == "healthy"
        assert health["model_loaded"] is True
        assert health["model_metadata"]["version"] == version
        assert health["model_metadata"]["n_lags"] >= 1
        assert health["model_metadata"]["rmse"] > 0

        status, prediction = post_json(f"{agent}/predict", {"temperature_history": [22.5, 23.1, 22.8, 23.3, 22.9, 23.0]})
        assert status == 200, prediction
        assert isinstance(prediction["predicted_temperature"], float)
        assert 10 < prediction["predicted_temperature"] < 35
        assert prediction["input_length"] == 6
        assert version in prediction["model_used"]

        status, reload = post_json(f"{agent}/model/reload", None)
        assert status == 200, reload
        assert reload["result"] == "already_active"

        status, live = get_json(f"{agent}/predict/live")
        assert status == 200, live
        assert -20 < live["predicted_temperature"] < 45
    finally:
        exit_code = first.interrupt()

    assert exit_code in (0, 130), "\n".join(first.output[-40:])
    assert wait_until_free(mlflow_port), "the MLflow server still listens after Ctrl-C"
    assert wait_until_free(agent_port), "the edge agent still listens after Ctrl-C"

    second = DemoRun(tmp_path, mlflow_port, agent_port)
    try:
        second.wait_for(READY_LINE, timeout=900)
        second_version = second.registered_version()
        assert int(second_version) == int(version) + 1
        status, health = get_json(f"{agent}/health")
        assert health["model_metadata"]["version"] == second_version
    finally:
        assert second.interrupt() in (0, 130)
    assert wait_until_free(agent_port)
