"""Registering model versions and listing them with their metrics and aliases."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from mlflow import MlflowClient
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException

from cloud.registry.aliases import AliasChange, set_alias
from cloud.errors import RegistryError

logger = logging.getLogger(__name__)

LISTED_METRICS = ("rmse", "mae", "r2", "naive_rmse", "max_abs_onnx_diff")
READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as ``cps-cloud versions`` shows it."""

    version: str
    aliases: list[str]
    status: str
    run_id: str
    created: int  # milliseconds since the epoch, as MLflow stores it
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def make_client(tracking_uri: str) -> MlflowClient:
    """Return a client whose tracking and registry calls both go to ``tracking_uri``."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def register_version(
    client: MlflowClient,
    name: str,
    model_uri: str,
    run_id: str,
    model_id: str | None,
    tags: dict[str, str],
    alias: str | None,
) -> tuple[str, AliasChange | None]:
    """Create the registered model if missing, add a version from ``model_uri`` and set ``alias`` to it.

    Waits until the version is READY. Returns the new version and the alias change (None when
    ``alias`` is empty). Raises RegistryError when the version fails or stays pending.
    """
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Next-reading temperature forecaster in ONNX for edge devices")
        logger.info("created registered model %s", name)
    created = client.create_model_version(name, source=model_uri, run_id=run_id, tags=tags, model_id=model_id)
    version = str(created.version)
    _wait_ready(client, name, version)
    logger.info("registered %s version %s from %s", name, version, model_uri)
    change = set_alias(client, name, alias, version) if alias else None
    return version, change


def list_versions(client: MlflowClient, name: str) -> list[VersionInfo]:
    """List the versions of model ``name``, newest first, with aliases and the run's metrics.

    Raises RegistryError when the model does not exist.
    """
    try:
        model = client.get_registered_model(name)
    except MlflowException as error:
        raise RegistryError(f"registered model {name!r} not found: {error.message}; train one with `cps-cloud train`") from error
    aliases_by_version: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases_by_version.setdefault(str(version), []).append(alias)

    listed = []
    for item in client.search_model_versions(f"name='{name}'"):
        metrics: dict[str, float] = {}
        if item.run_id:
            try:
                run_metrics = client.get_run(item.run_id).data.metrics
                metrics = {key: run_metrics[key] for key in LISTED_METRICS if key in run_metrics}
            except MlflowException:
                logger.warning("run %s of version %s not found; listing it without metrics", item.run_id, item.version)
        listed.append(
            VersionInfo(
                version=str(item.version),
                aliases=sorted(aliases_by_version.get(str(item.version), [])),
                status=str(item.status),
                run_id=item.run_id or "",
                created=int(item.creation_timestamp or 0),
                tags=dict(item.tags or {}),
                metrics=metrics,
            )
        )
    return sorted(listed, key=lambda info: int(info.version), reverse=True)


def _wait_ready(client: MlflowClient, name: str, version: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        status = client.get_model_version(name, version).status
        if status == ModelVersionStatus.to_string(ModelVersionStatus.READY):
            return
        if status == ModelVersionStatus.to_string(ModelVersionStatus.FAILED_REGISTRATION):
            raise RegistryError(f"version {version} of {name!r} failed to register; see the tracking server's log")
        if time.monotonic() > deadline:
            raise RegistryError(f"version {version} of {name!r} is still {status} after {READY_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.5)
