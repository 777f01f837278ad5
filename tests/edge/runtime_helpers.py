"""Shared pieces of the runtime tests: fixture bundles, a seeded store, an in-process app, the error check.

Imports only the agent and the standard library, so that these tests run inside the agent image.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from falcon import testing

from edge_agent.bundle import MANIFEST_FILE, ONNX_FILE
from edge_agent.runtime.app import create_app
from edge_agent.runtime.context import AppContext
from edge_agent.runtime.engine import EngineHolder
from edge_agent.runtime.store import ModelStore
from edge_agent.runtime.updater import Updater
from edge_agent.sensor_io.buffer import Reading, ReadingBuffer

DATA = Path(__file__).resolve().parent / "data"
ERROR_KEYS = {"status", "code", "title", "description"}


def fixture_bundle(name: str) -> tuple[bytes, dict[str, Any]]:
    """Return the ONNX bytes and the manifest (as a dict) of a bundle under tests/edge/data."""
    folder = DATA / name
    return (folder / ONNX_FILE).read_bytes(), json.loads((folder / MANIFEST_FILE).read_text())


def write_bundle(folder: Path, model: bytes, manifest: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ONNX_FILE).write_bytes(model)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


def seed_store(store: ModelStore, versions: dict[str, str]) -> None:
    """Install fixture bundles as versions and activate them in the order given (the last stays active)."""
    for version, name in versions.items():
        staged = store.new_staging_dir()
        for file_name in (ONNX_FILE, MANIFEST_FILE):
            shutil.copy(DATA / name / file_name, staged / file_name)
        store.install(version, staged)
        store.activate(version)


class BufferedSensor:
    """A sensor reader stand-in over a real ReadingBuffer, with a state the test sets.

    It has exactly what the API uses from SerialReader (``buffer`` and ``status()``), so the
    endpoints can be tested without a serial port; the reader itself is tested in sensor_io.
    """

    def __init__(self, state: str = "connected", gap_seconds: float | None = 120.0) -> None:
        self.buffer = ReadingBuffer(gap_seconds=gap_seconds)
        self.state = state

    def add(self, values: list[float], start: float = 1_700_000_000.0, step: float = 60.0) -> None:
        self.buffer.extend([Reading(start + index * step, value) for index, value in enumerate(values)])

    def status(self) -> dict[str, Any]:
        return {
            "port": "loop://",
            "state": self.state,
            "last_error": None if self.state == "connected" else "device unplugged",
            "segment_length": self.buffer.segment_length(),
        }


class Agent:
    """An in-process agent: store, updater, engine holder and a Falcon test client."""

    def __init__(self, state_dir: Path, versions: dict[str, str] | None = None, **context_options: Any) -> None:
        self.store = ModelStore(state_dir)
        if versions:
            seed_store(self.store, versions)
        self.holder = EngineHolder()
        self.updater = Updater(self.holder, self.store, None, "temperature-forecaster", "production")
        self.recovered = self.updater.recover()
        self.context = AppContext(
            holder=self.holder, store=self.store, updater=self.updater, clock=lambda: 1_767_225_600.0, **context_options
        )
        self.client = testing.TestClient(create_app(self.context))


def assert_error(response: testing.Result, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Check the one error body: status, code, title, description and, when given, the field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json
    assert set(body) - {"field"} == ERROR_KEYS, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["description"], str) and len(body["description"]) > 20
    if field is not None:
        assert body.get("field") == field, body
    return body


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
