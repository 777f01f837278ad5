"""Prometheus metrics in the text exposition format, written by hand to avoid a dependency.

Exposed on ``GET /metrics``: requests by route and status, request duration (sum and count),
forecasts served, pulls by result, whether a model is loaded and which version, and whether the
sensor is connected.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import falcon

from edge_agent.runtime.context import AppContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# Routes whose 200 responses carry forecasts; a batch or a V2 request with many rows counts once.
FORECAST_ROUTES = frozenset(
    {
        "/predict",
        "/predict/batch",
        "/predict/live",
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    }
)


class RequestMetrics:
    """Counters of HTTP requests, updated by :class:`MetricsMiddleware` from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.duration_sum: Counter[str] = Counter()
        self.duration_count: Counter[str] = Counter()
        self.forecasts = 0

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.duration_sum[route] += seconds
            self.duration_count[route] += 1
            if status == 200 and route in FORECAST_ROUTES:
                self.forecasts += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "duration_sum": dict(self.duration_sum),
                "duration_count": dict(self.duration_count),
                "forecasts": self.forecasts,
            }


class MetricsMiddleware:
    """Times every request and counts it under its route template (unknown paths count as "unmatched")."""

    def __init__(self, metrics: RequestMetrics) -> None:
        self.metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        started = getattr(req.context, "metrics_started", None)
        if started is None:
            return
        route = req.uri_template or "unmatched"
        status = falcon.http_status_to_code(resp.status)
        self.metrics.record(req.method, route, status, time.perf_counter() - started)


class MetricsResource:
    """GET /metrics: the Prometheus text format."""

    def __init__(self, context: AppContext, metrics: RequestMetrics) -> None:
        self.context = context
        self.metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE
        resp.text = render(self.context, self.metrics)


def render(context: AppContext, metrics: RequestMetrics) -> str:
    """Write every metric family with its HELP and TYPE lines."""
    snapshot = metrics.snapshot()
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("edge_agent_http_requests_total", "counter", "HTTP requests by method, route and status.")
    for (method, route, status), count in sorted(snapshot["requests"].items()):
        lines.append(f'edge_agent_http_requests_total{{method="{method}",route="{_escape(route)}",status="{status}"}} {count}')
    family("edge_agent_http_request_duration_seconds", "summary", "Time spent handling requests, by route.")
    for route, total in sorted(snapshot["duration_sum"].items()):
        label = f'route="{_escape(route)}"'
        lines.append(f"edge_agent_http_request_duration_seconds_sum{{{label}}} {total:.6f}")
        lines.append(f"edge_agent_http_request_duration_seconds_count{{{label}}} {snapshot['duration_count'][route]}")
    family("edge_agent_forecasts_total", "counter", "Forecast responses returned with status 200; a batch counts once.")
    lines.append(f"edge_agent_forecasts_total {snapshot['forecasts']}")

    family("edge_agent_pulls_total", "counter", "Pulls and rollbacks by result.")
    for result, count in sorted(context.updater.pull_counts.items()):
        lines.append(f'edge_agent_pulls_total{{result="{result}"}} {count}')
    engine = context.holder.get()
    family("edge_agent_model_loaded", "gauge", "1 when a model serves forecasts.")
    lines.append(f"edge_agent_model_loaded {1 if engine else 0}")
    if engine is not None:
        family("edge_agent_model_info", "gauge", "The active model; always 1.")
        manifest = engine.manifest
        lines.append(
            f'edge_agent_model_info{{model_name="{_escape(manifest.model_name)}",version="{_escape(manifest.version)}",'
            f'model_family="{_escape(manifest.model_family)}",n_lags="{manifest.n_lags}"}} 1'
        )
    if context.sensor is not None:
        family("edge_agent_sensor_connected", "gauge", "1 while the serial sensor is connected.")
        connected = context.sensor.status().get("state") == "connected"
        lines.append(f"edge_agent_sensor_connected {1 if connected else 0}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
