"""The Falcon application of the agent, built from collaborators passed in.

Endpoints:

- ``GET /health``, ``GET /health/live``, ``GET /health/ready``
- ``POST /predict`` (history in the body), ``GET /predict/live`` (history from the sensor)
- ``GET /readings?limit=N``
- ``GET /model``, ``POST /model/reload[?force=true]``, ``POST /model/rollback``
- ``GET /metrics`` (Prometheus text format)
- ``GET /openapi.json`` (OpenAPI 3.1 document of all of these)
- Open Inference Protocol (KServe V2 REST) under ``/v2``, see :mod:`edge_agent.runtime.api_v2`

State-changing endpoints (reload, rollback) need ``Authorization: Bearer <token>`` when a token
is configured. Every error response uses the body built in :mod:`edge_agent.runtime.errors`.
"""

from __future__ import annotations

import falcon

from edge_agent.runtime.api_health import HealthResource, LivenessResource, ReadinessResource
from edge_agent.runtime.api_model import ModelResource, ReloadResource, RollbackResource
from edge_agent.runtime.api_predict import BatchPredictResource, LivePredictResource, PredictResource, ReadingsResource
from edge_agent.runtime.api_v2 import (
    ModelResourceV2,
    ServerLiveResource,
    ServerMetadataResource,
    ServerReadyResource,
    V2ErrorMiddleware,
)
from edge_agent.runtime.context import AppContext
from edge_agent.runtime.errors import StrictJsonMiddleware, install_error_handling
from edge_agent.runtime.metrics import MetricsMiddleware, MetricsResource, RequestMetrics
from edge_agent.runtime.openapi import OpenApiResource


def create_app(context: AppContext) -> falcon.App:
    """Build the WSGI app serving ``context``."""
    metrics = RequestMetrics()
    # Middleware runs process_response in reverse order, so the timing includes JSON rendering, and
    # V2ErrorMiddleware reads the error bodies that StrictJsonMiddleware writes.
    app = falcon.App(middleware=[MetricsMiddleware(metrics), V2ErrorMiddleware(), StrictJsonMiddleware()])
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
    app.add_route("/openapi.json", OpenApiResource(context))

    app.add_route("/v2", ServerMetadataResource())
    app.add_route("/v2/health/live", ServerLiveResource())
    app.add_route("/v2/health/ready", ServerReadyResource(context))
    model_v2 = ModelResourceV2(context)
    for template in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}"):
        app.add_route(template, model_v2)
        app.add_route(template + "/ready", model_v2, suffix="ready")
        app.add_route(template + "/infer", model_v2, suffix="infer")
    return app
