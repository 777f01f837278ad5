"""Publishing fixture bundles to a real MLflow server, and small registries that misbehave on purpose."""

from __future__ import annotations

import http.server
import json
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import mlflow
import onnx
from falcon import testing
from mlflow import MlflowClient

from edge_agent.bundle import sha256_hex
from edge_agent.runtime.app import create_app
from edge_agent.runtime.context import AppContext
from edge_agent.runtime.engine import EngineHolder
from edge_agent.runtime.registry_client import RegistryClient
from edge_agent.runtime.store import ModelStore
from edge_agent.runtime.updater import Updater

DATA = Path(__file__).resolve().parents[1] / "edge" / "data"
LOOPBACK = "127.0.0.1"


def fixture_bundle(name: str) -> tuple[bytes, dict[str, Any]]:
    folder = DATA / name
    return (folder / "model.onnx").read_bytes(), json.loads((folder / "edge_manifest.json").read_text())


def unique_model_name(test_name: str) -> str:
    return "tf-" + re.sub(r"[^A-Za-z0-9]+", "-", test_name).strip("-")[:60]


def publish(server, model_name: str, model_bytes: bytes, manifest: dict[str, Any], alias: str | None = "production") -> str:
    """Log a bundle as a new version of ``model_name`` and point ``alias`` at it; return the version.

    MLflow's ONNX flavour needs a valid ModelProto, so a valid fixture model is logged and then
    ``model.onnx`` is overwritten in the server's artifact folder with ``model_bytes``, which may be
    damaged on purpose.
    """
    mlflow.set_tracking_uri(server.url)
    client = MlflowClient(server.url)
    with tempfile.TemporaryDirectory() as folder:
        manifest_path = Path(folder) / "edge_manifest.json"
        manifest_path.write_text(json.dumps(manifest))
        valid = onnx.load_from_string((DATA / "mean12" / "model.onnx").read_bytes())
        with mlflow.start_run():
            info = mlflow.onnx.log_model(
                valid,
                name="model",
                save_as_external_data=False,
                extra_files=[str(manifest_path)],
                # Listing the requirements skips their inference, which takes seconds per model.
                pip_requirements=["onnxruntime"],
            )
    version = mlflow.register_model(info.model_uri, model_name).version
    uri = client.get_model_version_download_uri(model_name, version)
    artifact_dir = Path(server.root) / "artifacts" / uri.split(":", 1)[1].lstrip("/")
    (artifact_dir / "model.onnx").write_bytes(model_bytes)
    if alias:
        client.set_registered_model_alias(model_name, alias, version)
    return str(version)


def publish_fixture(server, model_name: str, fixture: str, **changes: Any) -> str:
    model_bytes, manifest = fixture_bundle(fixture)
    manifest.update(changes)
    return publish(server, model_name, model_bytes, manifest)


def artifact_dir(server, model_name: str, version: str) -> Path:
    uri = MlflowClient(server.url).get_model_version_download_uri(model_name, version)
    return Path(server.root) / "artifacts" / uri.split(":", 1)[1].lstrip("/")


class RegistryAgent:
    """An in-process agent that pulls from a real registry URL."""

    def __init__(self, state_dir: Path, registry_url: str, model_name: str, alias: str = "production", timeout: float = 10.0) -> None:
        self.store = ModelStore(state_dir)
        self.holder = EngineHolder()
        self.updater = Updater(self.holder, self.store, RegistryClient(registry_url, timeout=timeout), model_name, alias)
        self.updater.recover()
        self.context = AppContext(holder=self.holder, store=self.store, updater=self.updater)
        self.app = create_app(self.context)
        self.client = testing.TestClient(self.app)

    def reload(self, force: bool = False):
        return self.client.simulate_post("/model/reload", query_string="force=true" if force else None)

    def health(self) -> dict[str, Any]:
        return self.client.simulate_get("/health").json

    def predict(self, history: list[float]) -> float:
        response = self.client.simulate_post(
            "/predict", body=json.dumps({"temperature_history": history}), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.text
        return response.json["predicted_temperature"]


@contextmanager
def misbehaving_registry(mode: str) -> Iterator[str]:
    """Run a tiny HTTP server on a free loopback port that responds with 500 ("error") or never responds ("hang")."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (name fixed by http.server)
            if mode == "hang":
                release.wait(30)
                return
            body = json.dumps({"error_code": "INTERNAL_ERROR", "message": "database is locked"}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def digest_of(data: bytes) -> str:
    return sha256_hex(data)
