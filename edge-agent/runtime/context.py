"""Shared state of the HTTP resources: the collaborators passed in, and helpers every resource uses."""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import falcon

from edge_agent.runtime.engine import Engine, EngineHolder
from edge_agent.runtime.errors import ApiError
from edge_agent.runtime.store import ModelStore
from edge_agent.runtime.updater import Updater


class SensorReader(Protocol):
    """Interface the API uses of a serial reader (``edge_agent.sensor_io.reader.SerialReader``)."""

    buffer: Any  # a ReadingBuffer: latest(limit) -> list[Reading], history(n) -> list[float] | None

    def status(self) -> dict[str, Any]: ...


@dataclass
class AppContext:
    """Collaborators and limits of one app; tests build it with real objects of their choice."""

    holder: EngineHolder
    store: ModelStore
    updater: Updater
    sensor: SensorReader | None = None
    clock: Callable[[], float] = time.time
    max_body_bytes: int = 256 * 1024
    max_history: int = 1000
    max_batch: int = 1000
    token: str | None = None
    max_readings: int = 10_000
    extra: dict[str, Any] = field(default_factory=dict)

    def now_iso(self) -> str:
        return iso_utc(self.clock())

    def require_engine(self) -> Engine:
        """Return the serving engine, or raise the 503 that tells the user to pull a model."""
        engine = self.holder.get()
        if engine is None:
            updater = self.updater
            registry = updater.registry_url or "(no registry configured: set MLFLOW_TRACKING_URI)"
            raise ApiError(
                503,
                "no_model_loaded",
                "No model loaded",
                f"The agent has no model yet. Run a pull with POST /model/reload (or `cps-edge pull`) to fetch "
                f"alias {updater.alias!r} of registered model {updater.model_name!r} from {registry}.",
            )
        return engine

    def authorize(self, req: falcon.Request) -> None:
        """Check the bearer token of a state-changing request when a token is configured."""
        if not self.token:
            return
        header = req.get_header("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            raise ApiError(
                401,
                "missing_token",
                "Authentication required",
                "This endpoint changes the agent's state and needs the header 'Authorization: Bearer <token>' "
                "with the token configured as AGENT_TOKEN.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(credentials.strip().encode(), self.token.encode()):
            raise ApiError(
                403,
                "invalid_token",
                "Invalid token",
                "The bearer token does not match the agent's AGENT_TOKEN; check the token and retry.",
            )


def iso_utc(timestamp: float) -> str:
    """Format UNIX seconds as ISO 8601 in UTC with millisecond precision and a ``Z`` suffix."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def finite(value: Any) -> Any:
    """Replace NaN and infinities by None, recursively, because JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def model_summary(engine: Engine | None) -> dict[str, Any] | None:
    return finite(engine.manifest.summary()) if engine is not None else None


def model_label(engine: Engine) -> str:
    manifest = engine.manifest
    return f"{manifest.model_name} v{manifest.version} ({manifest.model_family})"
