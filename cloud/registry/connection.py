"""Finding and checking the MLflow tracking server before any long work starts."""

from __future__ import annotations

import logging
import os
import urllib.error
import urllib.request

from cloud.errors import TrackingServerUnreachableError

logger = logging.getLogger(__name__)

DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
HEALTH_TIMEOUT_SECONDS = 5.0


def resolve_tracking_uri(uri: str | None = None) -> str:
    """Return ``uri`` if given, else ``MLFLOW_TRACKING_URI``, else the local default server."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def check_tracking_server(uri: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> None:
    """Raise TrackingServerUnreachableError unless ``uri``'s ``/health`` returns 200 within ``timeout`` s.

    One plain GET, no retries: the MLflow client retries for minutes by default, which would
    hide a stopped server behind a long silence. Non-HTTP URIs (``sqlite:``, ``file:``, paths) are
    local stores and need no check.
    """
    if not uri.startswith(("http://", "https://")):
        return
    health_url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health_url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        raise TrackingServerUnreachableError(uri, f"GET {health_url} returned HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingServerUnreachableError(uri, f"GET {health_url} failed: {reason}") from error
    if status != 200:
        raise TrackingServerUnreachableError(uri, f"GET {health_url} returned HTTP {status}")
    logger.debug("tracking server %s is healthy", uri)
