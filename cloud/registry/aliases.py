"""Moving registry aliases, the pointers edge devices follow, with a history for rollback.

MLflow keeps only an alias's current version, so every move made through these functions also
appends the version to the registered-model tag ``alias_history.<alias>`` (a JSON list, oldest
first). :func:`rollback` walks that list back. When the alias has no recorded history, for example
because it was set in the MLflow UI, rollback takes the highest existing version below the
current one.
Stages are never used: they are deprecated in MLflow in favour of aliases.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from cloud.errors import RegistryError
from cloud.registry.defaults import DEFAULT_ALIAS

logger = logging.getLogger(__name__)

HISTORY_TAG_PREFIX = "alias_history."
HISTORY_LIMIT = 50  # MLflow tag values are limited in length; 50 versions is plenty to roll back through


@dataclass(frozen=True)
class AliasChange:
    """An alias move: the version it pointed to before (None if unset) and after (None if deleted)."""

    model_name: str
    alias: str
    previous: str | None
    current: str | None


def current_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """Return the version ``alias`` points to, or None when the alias is not set."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def alias_history(client: MlflowClient, name: str, alias: str) -> list[str]:
    """Return the recorded versions of ``alias``, oldest first."""
    model = _get_model(client, name)
    raw = model.tags.get(HISTORY_TAG_PREFIX + alias)
    if not raw:
        return []
    try:
        return [str(version) for version in json.loads(raw)]
    except ValueError:
        logger.warning("ignoring unreadable tag %s%s on model %s: %r", HISTORY_TAG_PREFIX, alias, name, raw)
        return []


def set_alias(client: MlflowClient, name: str, alias: str, version: str | int) -> AliasChange:
    """Point ``alias`` of model ``name`` at ``version`` and record it in the alias history.

    Raises RegistryError when the model or the version does not exist.
    """
    version = str(version)
    _require_version(client, name, version)
    previous = current_version(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    history = alias_history(client, name, alias)
    if not history or history[-1] != version:
        history.append(version)
    _write_history(client, name, alias, history)
    logger.info("alias %s of %s: %s -> %s", alias, name, previous or "(unset)", version)
    return AliasChange(name, alias, previous, version)


promote = set_alias


def delete_alias(client: MlflowClient, name: str, alias: str) -> AliasChange:
    """Remove ``alias`` from model ``name``; raise RegistryError when it is not set."""
    previous = current_version(client, name, alias)
    if previous is None:
        raise RegistryError(f"model {name!r} has no alias {alias!r}; `cps-cloud versions` lists the aliases that exist")
    client.delete_registered_model_alias(name, alias)
    logger.info("alias %s of %s deleted (was version %s)", alias, name, previous)
    return AliasChange(name, alias, previous, None)


def rollback(client: MlflowClient, name: str, alias: str = DEFAULT_ALIAS) -> AliasChange:
    """Move ``alias`` back to the version it pointed to before the current one.

    Uses the alias history when it has an earlier, still existing version; otherwise the
    highest existing version number below the current one. Raises RegistryError when the alias
    is not set or there is no earlier version.
    """
    current = current_version(client, name, alias)
    if current is None:
        raise RegistryError(
            f"model {name!r} has no alias {alias!r} to roll back; set one with `cps-cloud alias set {name} {alias} VERSION`"
        )
    existing = {str(version.version) for version in client.search_model_versions(f"name='{name}'")}
    history = alias_history(client, name, alias)
    while history and history[-1] == current:
        history.pop()
    while history and history[-1] not in existing:
        history.pop()
    if history:
        target = history[-1]
        reason = "recorded alias history"
    else:
        earlier = sorted((int(version) for version in existing if int(version) < int(current)), reverse=True)
        if not earlier:
            raise RegistryError(
                f"alias {alias!r} of {name!r} points to version {current} and no earlier version exists to roll back to"
            )
        target = str(earlier[0])
        reason = "no recorded history, highest earlier version"
    client.set_registered_model_alias(name, alias, target)
    _write_history(client, name, alias, history or [target])
    logger.warning("rollback of alias %s of %s: %s -> %s (%s)", alias, name, current, target, reason)
    return AliasChange(name, alias, current, target)


def _write_history(client: MlflowClient, name: str, alias: str, history: list[str]) -> None:
    client.set_registered_model_tag(name, HISTORY_TAG_PREFIX + alias, json.dumps(history[-HISTORY_LIMIT:]))


def _get_model(client: MlflowClient, name: str):
    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        raise RegistryError(f"registered model {name!r} not found: {error.message}; train one with `cps-cloud train`") from error


def _require_version(client: MlflowClient, name: str, version: str) -> None:
    _get_model(client, name)
    try:
        client.get_model_version(name, version)
    except MlflowException as error:
        versions = sorted(int(item.version) for item in client.search_model_versions(f"name='{name}'"))
        raise RegistryError(
            f"version {version} of model {name!r} not found; existing versions: {versions or 'none'}"
        ) from error
