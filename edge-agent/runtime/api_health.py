"""Health endpoints: GET /health (the full picture), GET /health/live and GET /health/ready (probes)."""

from __future__ import annotations

from typing import Any

import falcon

from edge_agent.runtime.context import AppContext, finite, model_summary

STATE_CONNECTED = "connected"

def health_status(context: AppContext) -> tuple[str, list[str]]:
    """Return "healthy", "degraded" or "no_model", with the reasons for anything but healthy."""
    if context.holder.get() is None:
        return "no_model", ["no model is loaded; run a pull with POST /model/reload"]
    reasons = []
    if context.sensor is not None:
        state = context.sensor.status().get("state")
        if state != STATE_CONNECTED:
            reasons.append(f"the sensor is {state}")
    last_pull = context.updater.last_pull
    if last_pull is not None and last_pull.error is not None:
        reasons.append(f"the last pull failed ({last_pull.error.code}); the active model keeps serving")
    return ("degraded" if reasons else "healthy"), reasons

class HealthResource:
    """GET /health: model, sensor and last pull; always 200, the state is in the body."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context
        engine = context.holder.get()
        status, reasons = health_status(context)
        last_pull = context.updater.last_pull
        body: dict[str, Any] = {
            "status": status,
            "reasons": reasons,
            "timestamp": context.now_iso(),
            "model_loaded": engine is not None,
            "model_metadata": model_summary(engine),
            "sensor": context.sensor.status() if context.sensor is not None else None,
            "last_pull": last_pull.to_dict() if last_pull else None,
        }
        resp.media = finite(body)

class LivenessResource:
    """GET /health/live: 200 while the process handles requests."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "alive"}

class ReadinessResource:
    """GET /health/ready: 200 once a model serves forecasts, 503 before."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        engine = self.context.require_engine()
        resp.media = {"status": "ready", "version": engine.version}
