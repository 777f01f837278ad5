"""Pulls from a real MLflow server: each case ends with a valid model serving and /health telling the truth."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import LOOPBACK, command_path, free_port
from edge_agent.runtime.registry_client import RegistryClient
from runtime_registry_helpers import (
    RegistryAgent,
    artifact_dir,
    digest_of,
    fixture_bundle,
    misbehaving_registry,
    publish,
    publish_fixture,
    unique_model_name,
)

TWELVE = [20.0 + index * 0.5 for index in range(12)]
MEAN = sum(TWELVE) / 12
RECENT = sum((index + 1) / 78 * value for index, value in enumerate(TWELVE)) + 0.5


@pytest.fixture
def model_name(request) -> str:
    return unique_model_name(request.node.name)


@pytest.fixture
def serving_v1(tmp_path, mlflow_server, model_name) -> RegistryAgent:
    """An agent that has pulled version 1 (the mean12 fixture) of a fresh registered model."""
    publish_fixture(mlflow_server, model_name, "mean12")
    agent = RegistryAgent(tmp_path / "state", mlflow_server.url, model_name)
    response = agent.reload()
    assert response.status_code == 200, response.text
    return agent


def assert_still_serving_v1(agent: RegistryAgent, failed_code: str) -> None:
    assert agent.predict(TWELVE) == pytest.approx(MEAN, abs=1e-4)
    health = agent.health()
    assert health["model_metadata"]["version"] == "1"
    assert health["status"] == "degraded"
    assert health["last_pull"]["result"] == "failed"
    assert health["last_pull"]["error_code"] == failed_code
    assert agent.store.active_version() == "1"
    assert list(agent.store.staging_root.iterdir()) == []


def test_pull_and_swap(serving_v1, mlflow_server, model_name):
    agent = serving_v1
    assert agent.predict(TWELVE) == pytest.approx(MEAN, abs=1e-4)

    publish_fixture(mlflow_server, model_name, "recent12")
    response = agent.reload()

    assert response.status_code == 200, response.text
    body = response.json
    assert (body["result"], body["version"], body["previous_version"]) == ("swapped", "2", "1")
    assert agent.predict(TWELVE) == pytest.approx(RECENT, abs=1e-4)
    health = agent.health()
    assert health["status"] == "healthy"
    assert health["model_metadata"]["version"] == "2"
    assert health["model_metadata"]["run_id"] == "fixture-recent12"
    assert agent.store.kept_versions() == ["1", "2"]


def test_already_active_downloads_nothing(serving_v1, mlflow_server, model_name):
    # With the artifacts gone from the server, any download attempt would fail.
    shutil.rmtree(artifact_dir(mlflow_server, model_name, "1"))

    response = serving_v1.reload()

    assert response.status_code == 200, response.text
    assert response.json["result"] == "already_active"
    assert response.json["version"] == "1"
    assert serving_v1.health()["status"] == "healthy"


def corrupt_model(mlflow_server, model_name):
    # Garbage bytes whose digest the manifest matches: the digest check passes, loading fails.
    garbage = b"\x08\x07not really an onnx model" * 4
    _, manifest = fixture_bundle("mean12")
    manifest["onnx_sha256"] = digest_of(garbage)
    return publish(mlflow_server, model_name, garbage, manifest)


def truncated_model(mlflow_server, model_name):
    model, manifest = fixture_bundle("mean12")
    return publish(mlflow_server, model_name, model[: len(model) // 2], manifest)


def wrong_shape_model(mlflow_server, model_name):
    model, _ = fixture_bundle("mean6")
    _, manifest = fixture_bundle("mean12")
    manifest["onnx_sha256"] = digest_of(model)
    return publish(mlflow_server, model_name, model, manifest)


def manifest_of_other_model(mlflow_server, model_name):
    model, _ = fixture_bundle("recent12")
    _, manifest = fixture_bundle("mean12")
    manifest["onnx_sha256"] = digest_of(model)
    return publish(mlflow_server, model_name, model, manifest)


def invalid_manifest(mlflow_server, model_name):
    model, manifest = fixture_bundle("mean12")
    del manifest["n_lags"]
    return publish(mlflow_server, model_name, model, manifest)


# (id, publisher of a bad version 2, expected HTTP status, expected code)
BAD_BUNDLES = [
    ("corrupt-onnx", corrupt_model, 422, "model_load_failed"),
    ("truncated-onnx", truncated_model, 422, "digest_mismatch"),
    ("wrong-input-shape", wrong_shape_model, 422, "model_load_failed"),
    ("manifest-of-other-model", manifest_of_other_model, 422, "reference_mismatch"),
    ("manifest-missing-field", invalid_manifest, 422, "bad_manifest"),
]


@pytest.mark.parametrize(
    "publish_bad, status, code",
    [case[1:] for case in BAD_BUNDLES],
    ids=[case[0] for case in BAD_BUNDLES],
)
def test_bad_bundle_keeps_old_model(serving_v1, mlflow_server, model_name, publish_bad, status, code):
    bad_version = publish_bad(mlflow_server, model_name)

    response = serving_v1.reload()

    assert response.status_code == status, response.text
    body = response.json
    assert body["code"] == code
    assert "Version 1 keeps serving" in body["description"]
    assert_still_serving_v1(serving_v1, code)
    assert serving_v1.store.rejected()[bad_version]["code"] == code
    assert serving_v1.store.kept_versions() == ["1"]

    # A rejected version is not pulled again, so the same failure is not repeated.
    again = serving_v1.reload()
    assert again.status_code == 422
    assert again.json["code"] == "version_rejected"


def test_forced_pull_retries_rejected_version(serving_v1, mlflow_server, model_name):
    version = truncated_model(mlflow_server, model_name)
    serving_v1.reload()
    model, _ = fixture_bundle("mean12")
    (artifact_dir(mlflow_server, model_name, version) / "model.onnx").write_bytes(model)

    response = serving_v1.reload(force=True)

    assert response.status_code == 200, response.text
    assert response.json["version"] == version
    assert version not in serving_v1.store.rejected()


def test_registry_down(serving_v1):
    dead_url = f"http://{LOOPBACK}:{free_port()}"
    serving_v1.updater.client = RegistryClient(dead_url, timeout=2)

    response = serving_v1.reload()

    assert response.status_code == 503
    assert response.json["code"] == "registry_unavailable"
    assert dead_url in response.json["description"]
    assert_still_serving_v1(serving_v1, "registry_unavailable")
    assert serving_v1.store.rejected() == {}


@pytest.mark.parametrize("mode, status", [("error", 502), ("hang", 503)], ids=["answers-500", "hangs"])
def test_registry_misbehaving(serving_v1, mode, status):
    with misbehaving_registry(mode) as url:
        serving_v1.updater.client = RegistryClient(url, timeout=1)
        started = time.monotonic()
        response = serving_v1.reload()
        elapsed = time.monotonic() - started

    assert response.status_code == status, response.text
    assert response.json["code"] == "registry_unavailable"
    assert elapsed < 5
    assert_still_serving_v1(serving_v1, "registry_unavailable")


def test_alias_not_found(serving_v1, mlflow_server, model_name):
    serving_v1.updater.alias = "nope"

    response = serving_v1.reload()

    assert response.status_code == 502
    assert response.json["code"] == "alias_not_found"
    assert f"alias 'nope' not found on registered model '{model_name}'" in response.json["description"]
    assert_still_serving_v1(serving_v1, "alias_not_found")


def test_registered_model_not_found(tmp_path, mlflow_server):
    agent = RegistryAgent(tmp_path / "state", mlflow_server.url, "no-such-model")

    response = agent.reload()

    assert response.status_code == 502
    assert response.json["code"] == "alias_not_found"
    assert agent.health()["status"] == "no_model"


def test_rollback_after_swap(serving_v1, mlflow_server, model_name):
    publish_fixture(mlflow_server, model_name, "recent12")
    serving_v1.reload()

    response = serving_v1.client.simulate_post("/model/rollback")

    assert response.status_code == 200, response.text
    assert (response.json["version"], response.json["previous_version"]) == ("1", "2")
    assert serving_v1.predict(TWELVE) == pytest.approx(MEAN, abs=1e-4)
    assert serving_v1.health()["model_metadata"]["version"] == "1"
    # The alias still points to 2, which was rolled back from: a plain pull keeps 1 serving.
    assert serving_v1.reload().json["code"] == "version_rejected"
    assert serving_v1.health()["model_metadata"]["version"] == "1"


def test_requests_in_flight_during_swap_succeed(serving_v1, mlflow_server, model_name):
    from waitress.server import create_server

    publish_fixture(mlflow_server, model_name, "recent12")
    server = create_server(serving_v1.app, host=LOOPBACK, port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{LOOPBACK}:{server.effective_port}/predict"
    stop = threading.Event()

    def hammer() -> list[tuple[int, float]]:
        import urllib.request

        results = []
        body = json.dumps({"temperature_history": TWELVE}).encode()
        while not stop.is_set() and len(results) < 2000:
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                results.append((response.status, json.loads(response.read())["predicted_temperature"]))
        return results

    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(hammer) for _ in range(3)]
            time.sleep(0.2)  # let requests start before the swap; their count is asserted below
            swap = serving_v1.reload()
            time.sleep(0.2)
            stop.set()
            results = [item for future in futures for item in future.result(timeout=30)]
    finally:
        stop.set()
        server.close()
        thread.join(5)

    assert swap.status_code == 200, swap.text
    assert swap.json["result"] == "swapped"
    assert len(results) > 10
    assert all(status == 200 for status, _ in results)
    values = {round(value, 3) for _, value in results}
    assert values <= {round(MEAN, 3), round(RECENT, 3)}
    assert round(RECENT, 3) in values


def test_polling_follows_alias(serving_v1, mlflow_server, model_name):
    publish_fixture(mlflow_server, model_name, "recent12")

    serving_v1.updater.start_polling(0.2)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and serving_v1.holder.get().version != "2":
            time.sleep(0.1)
    finally:
        serving_v1.updater.stop_polling()

    assert serving_v1.holder.get().version == "2"
    assert serving_v1.health()["last_pull"]["result"] == "swapped"


def test_cli_pull_then_serve_offline(tmp_path, mlflow_server, model_name):
    publish_fixture(mlflow_server, model_name, "mean12")
    state_dir = tmp_path / "state"
    base = [command_path("cps-edge"), "pull", "--state-dir", str(state_dir), "--model-name", model_name]

    pulled = subprocess.run(base + ["--registry-url", mlflow_server.url], capture_output=True, text=True, timeout=60)
    again = subprocess.run(base + ["--registry-url", mlflow_server.url], capture_output=True, text=True, timeout=60)
    down = subprocess.run(base + ["--registry-url", f"http://{LOOPBACK}:{free_port()}"], capture_output=True, text=True, timeout=60)

    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["result"] == "swapped"
    assert json.loads(again.stdout)["result"] == "already_active"
    assert down.returncode == 1
    assert "unreachable" in down.stderr
    # Offline, the agent serves what the store holds.
    offline = RegistryAgent(state_dir, f"http://{LOOPBACK}:{free_port()}", model_name)
    assert offline.predict(TWELVE) == pytest.approx(MEAN, abs=1e-4)
