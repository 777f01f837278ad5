"""The one HTTP error body of the agent API, and the Falcon hooks that make every error use it.

Every error response, including Falcon's own (unknown route, wrong method, bad media) and any
unexpected exception, is a JSON object::

    {"status": 422, "code": "bad_history_length", "title": "...",
     "description": "what was wrong, the value received, what was expected, what to do",
     "field": "temperature_history[3]"}

``field`` is present only when one input field or list index is to blame. An unexpected exception
logs its traceback and returns a generic 500 body that reveals nothing about the code.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon

logger = logging.getLogger(__name__)

# Codes for errors that Falcon raises by itself, so their bodies carry a stable code too.
_FALCON_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(falcon.HTTPError):
    """An HTTP error with a stable ``code`` and a description of what to do next."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        description: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, title=title, description=description, headers=headers)
        self.code = code
        self.field = field

    def to_dict(self, obj_type: type = dict) -> dict[str, Any]:
        return error_body(self.status_code, self.code, self.title, self.description or "", self.field)


def error_body(status: int, code: str, title: str, description: str, field: str | None = None) -> dict[str, Any]:
    """Build the error body; the only place where its keys are written."""
    body: dict[str, Any] = {"status": status, "code": code, "title": title, "description": description}
    if field is not None:
        body["field"] = field
    return body


def _body_for(error: falcon.HTTPError) -> dict[str, Any]:
    if isinstance(error, ApiError):
        return error.to_dict()
    status = error.status_code
    title = error.title or falcon.code_to_http_status(status)
    description = error.description or _default_description(status)
    return error_body(status, _FALCON_CODES.get(status, f"http_{status}"), title, description)


def _default_description(status: int) -> str:
    if status == 404:
        return "No endpoint exists at this path. See the API documentation for the list of endpoints."
    if status == 405:
        return "This endpoint does not accept this HTTP method; the Allow header lists the methods it accepts."
    return falcon.code_to_http_status(status)


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Write any HTTPError as the JSON error body, whatever the client's Accept header requests."""
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(_body_for(error), allow_nan=False)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]) -> None:
    """Log an unexpected exception with its traceback and respond with a generic 500 body."""
    logger.error("unexpected error on %s %s", req.method, req.path, exc_info=error)
    _write_internal_error(resp)


def _write_internal_error(resp: falcon.Response) -> None:
    resp.status = falcon.HTTP_500
    resp.content_type = falcon.MEDIA_JSON
    resp.media = None
    resp.text = json.dumps(
        error_body(
            500,
            "internal_error",
            "Internal error",
            "The agent failed while handling this request. The error is in the agent's log; "
            "retry, and report it if it happens again.",
        )
    )


class StrictJsonMiddleware:
    """Render ``resp.media`` as strict JSON, so that no response carries NaN or Infinity.

    Falcon renders media after the error handlers have run and sends an empty 500 when that
    fails, so the rendering happens here, where a failure can still become the error body.
    """

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        if resp.media is None or resp.text is not None:
            return
        try:
            resp.text = json.dumps(resp.media, allow_nan=False)
        except (TypeError, ValueError) as error:
            logger.error("response of %s %s is not valid JSON", req.method, req.path, exc_info=error)
            _write_internal_error(resp)
            return
        resp.content_type = falcon.MEDIA_JSON


def install_error_handling(app: falcon.App) -> None:
    """Make every error response of ``app`` use the one JSON error body."""
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)
