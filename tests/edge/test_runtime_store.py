"""Model store on disk and start-up recovery: atomic writes, keep K, damaged versions, restarts."""

from __future__ import annotations

import json

import pytest

from edge_agent.runtime.engine import EngineHolder
from edge_agent.runtime.exceptions import DigestMismatchError, ManifestError, NoRollbackTargetError, StoreError
from edge_agent.runtime.store import ModelStore, check_version_name, write_json_atomically
from edge_agent.runtime.updater import Updater

from runtime_helpers import Agent, seed_store


def restart(state_dir) -> tuple[Updater, EngineHolder]:
    """Build a fresh updater on the same folder, as a restarted agent would, and recover."""
    holder = EngineHolder()
    updater = Updater(holder, ModelStore(state_dir), None, "temperature-forecaster", "production")
    updater.recover()
    return updater, holder


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "active.json"
    write_json_atomically(path, {"version": "1"})

    with pytest.raises(TypeError):
        write_json_atomically(path, {"version": object()})

    assert json.loads(path.read_text()) == {"version": "1"}
    assert [p.name for p in tmp_path.iterdir()] == ["active.json"]


def test_keep_last_three_versions(tmp_path):
    store = ModelStore(tmp_path, keep=3)

    seed_store(store, {"1": "mean12", "2": "recent12", "3": "mean12", "4": "recent12"})

    assert store.kept_versions() == ["2", "3", "4"]
    assert sorted(p.name for p in store.models_dir.iterdir()) == ["2", "3", "4"]
    assert store.active_version() == "4"


def test_keep_below_two_rejected(tmp_path):
    with pytest.raises(StoreError, match="at least 2"):
        ModelStore(tmp_path, keep=1)


@pytest.mark.parametrize("version", ["../evil", "", "a/b", ".."], ids=["parent", "empty", "slash", "dotdot"])
def test_unsafe_version_names_rejected(version):
    with pytest.raises(StoreError):
        check_version_name(version)


def test_load_checks_digest(tmp_path):
    store = ModelStore(tmp_path)
    seed_store(store, {"1": "mean12"})
    model_path = store.bundle_dir("1") / "model.onnx"
    model_path.write_bytes(model_path.read_bytes() + b"\x00")

    with pytest.raises(DigestMismatchError, match="SHA-256"):
        store.load("1")


def test_load_fills_in_version(tmp_path):
    store = ModelStore(tmp_path)
    seed_store(store, {"7": "mean12"})

    assert store.load("7").manifest.version == "7"


def test_rejected_versions_survive_restart(tmp_path):
    ModelStore(tmp_path).mark_rejected("5", "digest_mismatch", "file damaged")

    store = ModelStore(tmp_path)

    assert store.rejected()["5"]["code"] == "digest_mismatch"
    store.clear_rejected("5")
    assert store.rejected() == {}


def damage_active_model(store: ModelStore) -> None:
    path = store.bundle_dir(store.active_version()) / "model.onnx"
    path.write_bytes(b"garbage")


def remove_active_manifest(store: ModelStore) -> None:
    (store.bundle_dir(store.active_version()) / "edge_manifest.json").unlink()


def corrupt_active_json(store: ModelStore) -> None:
    store.active_path.write_text('{"version": "2", "ke')


def delete_active_json(store: ModelStore) -> None:
    store.active_path.unlink()


def leave_staging_folder(store: ModelStore) -> None:
    staged = store.new_staging_dir()
    (staged / "model.onnx").write_bytes(b"half a download")


def install_without_activating(store: ModelStore) -> None:
    staged = store.new_staging_dir()
    for name in ("model.onnx", "edge_manifest.json"):
        (staged / name).write_bytes((store.bundle_dir("1") / name).read_bytes())
    store.install("3", staged)


def nothing(store: ModelStore) -> None:
    pass


# (id, damage done before the restart, version expected to serve, versions expected on disk)
RECOVERY_CASES = [
    ("intact", nothing, "2", ["1", "2"]),
    ("interrupted-download", leave_staging_folder, "2", ["1", "2"]),
    ("installed-not-activated", install_without_activating, "2", ["1", "2", "3"]),
    ("active-model-damaged", damage_active_model, "1", ["1"]),
    ("active-manifest-missing", remove_active_manifest, "1", ["1"]),
    ("active-json-torn", corrupt_active_json, "2", ["1", "2"]),
    ("active-json-missing", delete_active_json, "2", ["1", "2"]),
]


@pytest.mark.parametrize(
    "damage, serving, on_disk",
    [case[1:] for case in RECOVERY_CASES],
    ids=[case[0] for case in RECOVERY_CASES],
)
def test_restart_recovery(tmp_path, damage, serving, on_disk):
    store = ModelStore(tmp_path)
    seed_store(store, {"1": "mean12", "2": "recent12"})
    damage(store)

    updater, holder = restart(tmp_path)

    assert holder.get() is not None
    assert holder.get().version == serving
    assert ModelStore(tmp_path).active_version() == serving
    assert sorted(p.name for p in store.models_dir.iterdir()) == on_disk
    assert list(store.staging_root.iterdir()) == []
    assert updater.last_pull.result == "loaded"


def test_restart_with_every_version_damaged_serves_nothing(tmp_path):
    store = ModelStore(tmp_path)
    seed_store(store, {"1": "mean12", "2": "recent12"})
    for version in ("1", "2"):
        (store.bundle_dir(version) / "model.onnx").write_bytes(b"garbage")

    updater, holder = restart(tmp_path)

    assert holder.get() is None
    assert store.kept_versions() == []


def test_restart_with_manifest_that_does_not_match_model(tmp_path):
    store = ModelStore(tmp_path)
    seed_store(store, {"1": "mean12", "2": "recent12"})
    manifest_path = store.bundle_dir("2") / "edge_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["reference_outputs"] = [value + 1.0 for value in manifest["reference_outputs"]]
    manifest_path.write_text(json.dumps(manifest))

    _, holder = restart(tmp_path)

    assert holder.get().version == "1"


def test_invalid_manifest_reported(tmp_path):
    store = ModelStore(tmp_path)
    seed_store(store, {"1": "mean12"})
    (store.bundle_dir("1") / "edge_manifest.json").write_text('{"format_version": 1}')

    with pytest.raises(ManifestError, match="missing the field"):
        store.load("1")


def test_rollback_goes_to_previous_and_remembers(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12", "3": "mean12"})

    result = agent.updater.rollback()

    assert (result.version, result.previous_version) == ("2", "3")
    assert agent.holder.get().version == "2"
    assert agent.store.rejected()["3"]["code"] == "rolled_back"
    _, holder = restart(tmp_path)
    assert holder.get().version == "2"


def test_second_rollback_goes_further_back(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12", "3": "mean12"})

    agent.updater.rollback()
    result = agent.updater.rollback()

    assert (result.version, result.previous_version) == ("1", "2")
    assert sorted(agent.store.rejected()) == ["2", "3"]


def test_rollback_skips_damaged_version(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12", "3": "mean12"})
    (agent.store.bundle_dir("2") / "model.onnx").write_bytes(b"garbage")

    result = agent.updater.rollback()

    assert result.version == "1"
    assert "2" not in agent.store.kept_versions()


def test_rollback_without_other_version(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    with pytest.raises(NoRollbackTargetError, match="no other intact version"):
        agent.updater.rollback()

    assert agent.holder.get().version == "1"


def test_model_endpoint_lists_kept_versions(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12"})

    body = agent.client.simulate_get("/model").json

    assert body["active"]["version"] == "2"
    assert [(item["version"], item["active"]) for item in body["kept_versions"]] == [("1", False), ("2", True)]
    assert body["kept_versions"][0]["model_metadata"]["run_id"] == "fixture-mean12"
    assert body["registry"] == {"url": None, "model_name": "temperature-forecaster", "alias": "production"}
    assert body["keep"] == 3
