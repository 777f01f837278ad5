"""Parsing and checking of request bodies and query parameters; every failure is an ApiError.

A forecast request body is a JSON object::

    {"temperature_history": [22.5, 23.1, ...], "pad": true}

``temperature_history`` is oldest first, in degrees Celsius, 1 to ``max_history`` numbers, each
finite and within float32 range because the model computes in float32. ``pad`` is optional.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import falcon
import numpy as np

from edge_agent.runtime.errors import ApiError

FLOAT32_MAX = float(np.finfo(np.float32).max)
ABSOLUTE_ZERO_C = -273.15
HISTORY_FIELD = "temperature_history"
BATCH_FIELD = "histories"
PAD_FIELD = "pad"
_KNOWN_FIELDS = (HISTORY_FIELD, PAD_FIELD)
_KNOWN_BATCH_FIELDS = (BATCH_FIELD, PAD_FIELD)


@dataclass(frozen=True)
class ForecastRequest:
    """A checked forecast request."""

    history: list[float]
    pad: bool


@dataclass(frozen=True)
class BatchRequest:
    """A checked batch forecast request: several histories, each oldest first."""

    histories: list[list[float]]
    pad: bool


def read_json_body(req: falcon.Request, max_body_bytes: int) -> Any:
    """Read and parse a JSON request body of at most ``max_body_bytes``.

    NaN and Infinity literals parse as floats here, so that the caller can name the field or
    index that contains them instead of rejecting the whole body as malformed.
    """
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type != falcon.MEDIA_JSON:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            f"The request has Content-Type {req.content_type or '(none)'!r}, expected 'application/json'; "
            "send the body as JSON with that header.",
        )
    if req.content_length is not None and req.content_length > max_body_bytes:
        raise _too_large(req.content_length, max_body_bytes)
    raw = req.bounded_stream.read(max_body_bytes + 1)
    if len(raw) > max_body_bytes:
        raise _too_large(None, max_body_bytes)
    if not raw.strip():
        raise ApiError(400, "empty_body", "Empty body", "The request body is empty; send a JSON object.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=float)
    except (ValueError, RecursionError) as error:
        raise ApiError(
            400,
            "invalid_json",
            "Invalid JSON",
            f"The request body is not valid UTF-8 JSON ({short_error(error)}); send a JSON object such as "
            '{"temperature_history": [22.5, 23.1, 22.8]}.',
        ) from error


def parse_forecast_request(body: Any, max_history: int) -> ForecastRequest:
    """Check a parsed forecast body; raise ApiError naming the first field or index at fault."""
    _check_object(body, _KNOWN_FIELDS, HISTORY_FIELD, "the recent readings in degrees Celsius, oldest first")
    return ForecastRequest(check_history(body[HISTORY_FIELD], max_history), _check_pad(body))


def parse_batch_request(body: Any, max_history: int, max_batch: int) -> BatchRequest:
    """Check a parsed batch body; raise ApiError naming the first field or index at fault.

    Well-formed batches take a vectorized path; only a batch with a bad value is walked value
    by value, to name the index at fault.
    """
    _check_object(body, _KNOWN_BATCH_FIELDS, BATCH_FIELD, "a list of histories, each oldest first")
    pad = _check_pad(body)
    histories = body[BATCH_FIELD]
    if not isinstance(histories, list):
        raise ApiError(
            422,
            "not_a_list",
            "Histories is not a list",
            f"{BATCH_FIELD!r} is a JSON {json_type(histories)}, expected a list of histories "
            "(each a list of numbers in degrees Celsius, oldest first).",
            field=BATCH_FIELD,
        )
    if not histories:
        raise ApiError(
            422, "empty_batch", "Empty batch", f"{BATCH_FIELD!r} is empty; send at least 1 history.", field=BATCH_FIELD
        )
    if len(histories) > max_batch:
        raise ApiError(
            422,
            "batch_too_large",
            "Batch too large",
            f"{BATCH_FIELD!r} has {len(histories)} histories, the maximum is {max_batch}; split the batch.",
            field=BATCH_FIELD,
        )
    if _all_plain_numbers(histories, max_history):
        return BatchRequest(histories, pad)
    checked = [
        check_history(history, max_history, field=f"{BATCH_FIELD}[{index}]") for index, history in enumerate(histories)
    ]
    return BatchRequest(checked, pad)


def _all_plain_numbers(histories: list[Any], max_history: int) -> bool:
    """Tell whether every history is a non-empty list of at most ``max_history`` numbers from absolute zero to float32's maximum."""
    for history in histories:
        if type(history) is not list or not 0 < len(history) <= max_history:
            return False
        for value in history:
            kind = type(value)
            if kind is not float and kind is not int:
                return False
            if not ABSOLUTE_ZERO_C <= value <= FLOAT32_MAX:  # also false for NaN
                return False
    return True


def _check_object(body: Any, known_fields: tuple[str, ...], required: str, what: str) -> None:
    if not isinstance(body, dict):
        raise ApiError(
            422,
            "body_not_object",
            "Body is not an object",
            f"The body is a JSON {json_type(body)}, expected an object such as "
            '{"temperature_history": [22.5, 23.1, 22.8]}.',
        )
    for key in body:
        if key not in known_fields:
            raise ApiError(
                422,
                "unknown_field",
                "Unknown field",
                f"The body has the field {key!r}, which this endpoint does not accept; "
                f"the accepted fields are {', '.join(known_fields)}.",
                field=str(key),
            )
    if required not in body:
        raise ApiError(
            422,
            "missing_field",
            "Missing field",
            f"The body has no {required!r} field; send {what}.",
            field=required,
        )


def _check_pad(body: dict[str, Any]) -> bool:
    pad = body.get(PAD_FIELD, True)
    if not isinstance(pad, bool):
        raise ApiError(
            422,
            "not_a_boolean",
            "Not a boolean",
            f"{PAD_FIELD!r} is {show_value(pad)}, expected true or false.",
            field=PAD_FIELD,
        )
    return pad


def check_history(values: Any, max_history: int, field: str = HISTORY_FIELD) -> list[float]:
    """Check a history list and return it as floats; errors name ``field`` or ``field[index]``."""
    if not isinstance(values, list):
        raise ApiError(
            422,
            "not_a_list",
            "History is not a list",
            f"{field!r} is a JSON {json_type(values)}, expected a list of numbers (degrees Celsius, oldest first).",
            field=field,
        )
    if not values:
        raise ApiError(
            422,
            "empty_history",
            "Empty history",
            f"{field!r} is empty; send at least 1 reading (ideally as many as the model uses).",
            field=field,
        )
    if len(values) > max_history:
        raise ApiError(
            422,
            "history_too_long",
            "History too long",
            f"{field!r} has {len(values)} readings, the maximum is {max_history}; "
            "send only the most recent readings.",
            field=field,
        )
    return [check_number(value, f"{field}[{index}]") for index, value in enumerate(values)]


def require_finite_number(value: Any, field: str) -> None:
    """Raise ApiError unless ``value`` is a JSON number (not a boolean) and finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(
            422,
            "not_a_number",
            "Not a number",
            f"{field} is {show_value(value)}, expected a number of degrees Celsius.",
            field=field,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(
            422,
            "non_finite_value",
            "Value is not finite",
            f"{field} is {value!r}, expected a finite number of degrees Celsius; drop readings the sensor did not deliver.",
            field=field,
        )


def check_number(value: Any, field: str, limit: float = FLOAT32_MAX) -> float:
    """Check one reading and return it as a float; ``limit`` is the largest magnitude the model's type holds."""
    require_finite_number(value, field)
    if value < ABSOLUTE_ZERO_C:
        raise ApiError(
            422,
            "value_out_of_range",
            "Value out of range",
            f"{field} is {show_value(value)}, below absolute zero ({ABSOLUTE_ZERO_C} °C); "
            "send temperatures in degrees Celsius.",
            field=field,
        )
    # Compared before float() so that a huge JSON integer cannot raise OverflowError.
    if abs(value) > limit:
        raise ApiError(
            422,
            "value_out_of_range",
            "Value out of range",
            f"{field} is {show_value(value)}, beyond the range (+/-{limit:.4g}) of the type the model computes in; "
            "send temperatures in degrees Celsius.",
            field=field,
        )
    return float(value)


def parse_limit(req: falcon.Request, default: int, maximum: int) -> int:
    """Read the ``limit`` query parameter: an integer from 1 to ``maximum``."""
    raw = req.get_param("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        limit = None
    if limit is None or not 1 <= limit <= maximum:
        raise ApiError(
            422,
            "bad_limit",
            "Invalid limit",
            f"limit is {show_value(raw)}, expected an integer from 1 to {maximum}.",
            field="limit",
        )
    return limit


def parse_flag(req: falcon.Request, name: str) -> bool:
    """Read an optional boolean query parameter (true/false, 1/0, yes/no)."""
    raw = req.get_param(name)
    if raw is None:
        return False
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ApiError(422, "not_a_boolean", "Not a boolean", f"{name} is {show_value(raw)}, expected true or false.", field=name)


def _too_large(received: int | None, limit: int) -> ApiError:
    size = f"{received} bytes" if received is not None else "more than that"
    return ApiError(
        413,
        "body_too_large",
        "Body too large",
        f"The request body is {size}; the limit is {limit} bytes. Send fewer readings.",
    )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def show_value(value: Any, limit: int = 40) -> str:
    """Quote a received value for a message, shortened so that a huge value cannot bloat the body."""
    if isinstance(value, (dict, list)):
        return f"a JSON {json_type(value)}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**limit:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def short_error(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 120 else text[:120] + "..."
