"""The Falcon application of the agent, built from collaborators passed in.

Endpoints:

- ``GET /health``, ``GET /health/live``, ``GET /health/ready``
- ``POST /predict`` (history in the body), ``GET /predict/live`` (history from the sensor)
- ``GET /readings?limit=N``
- ``GET /model``, ``POST /model/reload[?force=true]``, ``POST /model/rollback``
- ``GET /metrics`` (Prometheus text format)

State-changing endpoints (reload, rollback) need ``Authorization: Bearer <token>`` when a token
is configured. Every error response uses the body built in :mod:`edge_agent.runtime.errors`.
"""

from __future__ import annotations

import falcon

from edge_agent.runtime.api_health import HealthResource, LivenessResource, ReadinessResource
from edge_agent.runtime.api_model import ModelResource, ReloadResource, RollbackResource
from edge_agent.runtime.api_predict import BatchPredictResource, LivePredictResource, PredictResource, ReadingsResource
from edge_agent.runtime.context import AppContext
from edge_agent.runtime.errors import StrictJsonMiddleware, install_error_handling
from edge_agent.runtime.metrics import MetricsMiddleware, MetricsResource, RequestMetrics


def create_app(context: AppContext) -> falcon.App:
    """Build the WSGI app serving ``context``."""
    metrics = RequestMetrics()
    # Middleware runs process_response in reverse order, so the timing includes JSON rendering.
    app = falcon.App(middleware=[MetricsMiddleware(metrics), StrictJsonMiddleware()])
    install_error_handling(app)

    app.add_route("/health", HealthResource(context))
    app.add_route("/health/live", LivenessResource())
    app.add_route("/health/ready", ReadinessResource(context))
    app.add_route("/predict", PredictResource(context))
    app.add_route("/predict/batch", BatchPredictResource(context))
    app.add_route("/predict/live", LivePredictResource(context))
    app.add_route("/readings", ReadingsResource(context))
    app.add_route("/model", ModelResource(context))
    app.add_route("/model/reload", ReloadResource(context))
    app.add_route("/model/rollback", RollbackResource(context))
    app.add_route("/metrics", MetricsResource(context, metrics))
    return app
