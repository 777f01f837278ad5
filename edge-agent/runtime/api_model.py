"""Model endpoints: GET /model, POST /model/reload (pull) and POST /model/rollback."""

from __future__ import annotations

import json
from typing import Any

import falcon

from edge_agent.bundle import MANIFEST_FILE, BundleError, parse_manifest
from edge_agent.runtime.context import AppContext, finite, model_summary
from edge_agent.runtime.errors import ApiError
from edge_agent.runtime.exceptions import (
    AgentError,
    AliasNotFoundError,
    BundleRejectedError,
    NoRollbackTargetError,
    PullInProgressError,
    RegistryNotConfiguredError,
    RegistryResponseError,
    RegistryUnavailableError,
    VersionRejectedError,
)
from edge_agent.runtime.updater import PullResult
from edge_agent.runtime.validation import parse_flag

# (exception class, HTTP status, title), most specific first.
_ERROR_STATUS: list[tuple[type[AgentError], int, str]] = [
    (PullInProgressError, 409, "Pull in progress"),
    (NoRollbackTargetError, 409, "Nothing to roll back to"),
    (RegistryNotConfiguredError, 503, "No registry configured"),
    (AliasNotFoundError, 502, "Alias not found"),
    (RegistryUnavailableError, 503, "Registry unavailable"),
    (RegistryResponseError, 502, "Unexpected registry response"),
    (VersionRejectedError, 422, "Version rejected before"),
    (BundleRejectedError, 422, "Bundle rejected"),
]


def api_error_for(error: AgentError, serving: str | None) -> ApiError:
    """Turn an update failure into an ApiError that names the version that keeps serving."""
    status, title = 500, "Update failed"
    for error_type, error_status, error_title in _ERROR_STATUS:
        if isinstance(error, error_type):
            status, title = error_status, error_title
            break
    if isinstance(error, RegistryUnavailableError) and error.status is not None:
        status = 502  # the registry responded, with a server error
    keeps = f"Version {serving} keeps serving." if serving else "No model is loaded yet."
    # Error texts end without a full stop, so one is added before the sentence that follows.
    message = str(error).rstrip()
    if not message.endswith((".", "!", "?")):
        message += "."
    return ApiError(status, error.code, title, f"{message} {keeps}")


class ModelResource:
    """GET /model: the active model, the versions kept on the device and the rejected ones."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context
        engine = context.holder.get()
        active = engine.version if engine else None
        kept = []
        for version in context.store.kept_versions():
            kept.append({"version": version, "active": version == active, "model_metadata": _stored_summary(context, version)})
        updater = context.updater
        resp.media = finite(
            {
                "active": model_summary(engine),
                "kept_versions": kept,
                "keep": context.store.keep,
                "rejected_versions": context.store.rejected(),
                "registry": {"url": updater.registry_url, "model_name": updater.model_name, "alias": updater.alias},
                "last_pull": updater.last_pull.to_dict() if updater.last_pull else None,
            }
        )


class ReloadResource:
    """POST /model/reload[?force=true]: pull the version the alias points to now."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.context.authorize(req)
        force = parse_flag(req, "force")
        try:
            result = self.context.updater.pull(force=force)
        except PullInProgressError as error:
            raise api_error_for(error, _serving(self.context)) from error
        _respond(self.context, resp, result)


class RollbackResource:
    """POST /model/rollback: go back to the previous kept version."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.context.authorize(req)
        try:
            result = self.context.updater.rollback()
        except AgentError as error:
            raise api_error_for(error, _serving(self.context)) from error
        _respond(self.context, resp, result)


def _respond(context: AppContext, resp: falcon.Response, result: PullResult) -> None:
    if result.error is not None:
        raise api_error_for(result.error, _serving(context))
    body = result.to_dict()
    body["model_metadata"] = model_summary(context.holder.get())
    resp.media = finite(body)


def _serving(context: AppContext) -> str | None:
    engine = context.holder.get()
    return engine.version if engine else None


def _stored_summary(context: AppContext, version: str) -> dict[str, Any] | None:
    """Summarize a kept version from its manifest alone; the digest is checked only when it loads."""
    try:
        manifest = parse_manifest((context.store.bundle_dir(version) / MANIFEST_FILE).read_bytes())
    except (OSError, BundleError, json.JSONDecodeError, AgentError):
        return None
    summary = manifest.summary()
    summary["version"] = version
    return summary
