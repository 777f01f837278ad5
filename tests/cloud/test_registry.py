"""Aliases, promotion and rollback on a real registry, through the functions and the CLI."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from cloud.errors import RegistryError
from cloud.registry.aliases import alias_history, current_version, delete_alias, promote, rollback, set_alias
from cloud.registry.versions import list_versions, make_client, register_version

_names = itertools.count()


@pytest.fixture
def client(mlflow_server) -> MlflowClient:
    return make_client(mlflow_server.url)


@pytest.fixture
def model(client, trained) -> str:
    """A fresh registered model with three versions of the trained bundle and no alias."""
    name = f"registry-test-{next(_names)}"
    for _ in range(3):
        register_version(client, name, trained.model_uri, trained.run_id, trained.model_id, {"model_family": trained.model_family}, None)
    return name


def test_registry_set_alias_moves_pointer(client, model):
    change = set_alias(client, model, "production", 2)
    assert (change.previous, change.current) == (None, "2")
    assert current_version(client, model, "production") == "2"
    assert alias_history(client, model, "production") == ["2"]


def test_registry_set_alias_unknown_version(client, model):
    with pytest.raises(RegistryError) as caught:
        set_alias(client, model, "production", 9)
    assert "version 9" in str(caught.value)
    assert "[1, 2, 3]" in str(caught.value)


def test_registry_unknown_model(client):
    with pytest.raises(RegistryError, match="'no-such-model' not found"):
        list_versions(client, "no-such-model")


@pytest.mark.parametrize(
    ("moves", "expected_after_rollbacks"),
    [
        (["1", "2", "3"], ["2", "1"]),
        (["3", "1", "3"], ["1", "3"]),
        (["2", "2", "3"], ["2"]),
    ],
    ids=["in-order", "back-and-forth", "repeated-version"],
)
def test_registry_rollback_follows_history(client, model, moves, expected_after_rollbacks):
    for version in moves:
        promote(client, model, "production", version)
    for expected in expected_after_rollbacks:
        change = rollback(client, model, "production")
        assert change.current == expected
        assert current_version(client, model, "production") == expected


def test_registry_rollback_without_history_uses_previous_version(client, model):
    # Set outside our functions (as the MLflow UI would): no history tag is written.
    client.set_registered_model_alias(model, "production", "3")
    assert rollback(client, model, "production").current == "2"


def test_registry_rollback_at_first_version_fails(client, model):
    promote(client, model, "production", 1)
    with pytest.raises(RegistryError, match="no earlier version"):
        rollback(client, model, "production")
    assert current_version(client, model, "production") == "1"


def test_registry_rollback_without_alias_fails(client, model):
    with pytest.raises(RegistryError, match="no alias 'production'"):
        rollback(client, model, "production")


def test_registry_delete_alias(client, model):
    set_alias(client, model, "staging", 1)
    change = delete_alias(client, model, "staging")
    assert (change.previous, change.current) == ("1", None)
    assert current_version(client, model, "staging") is None
    with pytest.raises(RegistryError):
        delete_alias(client, model, "staging")


def test_registry_list_versions(client, model, trained):
    set_alias(client, model, "production", 3)
    set_alias(client, model, "canary", 3)
    listed = list_versions(client, model)
    assert [info.version for info in listed] == ["3", "2", "1"]
    assert listed[0].aliases == ["canary", "production"]
    assert listed[1].aliases == []
    assert listed[0].metrics["rmse"] == pytest.approx(trained.test_rmse)
    assert listed[0].tags["model_family"] == trained.model_family


def cps_cloud(mlflow_server, *arguments: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MLFLOW_TRACKING_URI=mlflow_server.url)
    return subprocess.run(
        [sys.executable, "-m", "cloud", *arguments], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_promote_rollback_and_versions(mlflow_server, client, model):
    promoted = cps_cloud(mlflow_server, "promote", "2", "--model-name", model)
    assert promoted.returncode == 0, promoted.stderr
    assert f"{model}@production: (unset) -> 2" in promoted.stdout

    assert cps_cloud(mlflow_server, "alias", "set", "production", "3", "--model-name", model).returncode == 0
    rolled = cps_cloud(mlflow_server, "rollback", "--model-name", model)
    assert rolled.returncode == 0, rolled.stderr
    assert f"{model}@production: 3 -> 2" in rolled.stdout
    assert current_version(client, model, "production") == "2"

    listed = cps_cloud(mlflow_server, "versions", "--model-name", model)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:2] == ["version", "aliases"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    assert lines[2].split()[1] == "production"


def test_cli_alias_delete_and_error_exit(mlflow_server, model):
    assert cps_cloud(mlflow_server, "alias", "set", "canary", "1", "--model-name", model).returncode == 0
    deleted = cps_cloud(mlflow_server, "alias", "delete", "canary", "--model-name", model)
    assert deleted.returncode == 0, deleted.stderr
    assert "1 -> (deleted)" in deleted.stdout

    failed = cps_cloud(mlflow_server, "promote", "7", "--model-name", model)
    assert failed.returncode == 1
    assert "version 7" in failed.stderr
