"""Forecast endpoints: POST /predict, POST /predict/batch, GET /predict/live, and GET /readings."""

from __future__ import annotations

from typing import Any

import falcon
import numpy as np

from edge_agent.features import fit_history
from edge_agent.runtime.context import AppContext, finite, iso_utc, model_label, model_summary
from edge_agent.runtime.engine import Engine, overflowed_rows
from edge_agent.runtime.errors import ApiError
from edge_agent.runtime.validation import (
    BATCH_FIELD,
    HISTORY_FIELD,
    parse_batch_request,
    parse_forecast_request,
    parse_limit,
    read_json_body,
)

STATE_CONNECTED = "connected"
_LIVE_ATTEMPTS = 3


def forecast(engine: Engine, window: np.ndarray) -> float:
    """Run one window through the engine; raise a 422 if the model's output is not finite."""
    predictions = engine.predict(window.reshape(1, -1))
    value = float(predictions[0])
    if overflowed_rows(predictions).size:
        raise ApiError(
            422,
            "prediction_not_finite",
            "Forecast is not finite",
            f"The model returned {value!r} for this history, which happens when readings are far outside "
            "the range it was trained on; send temperatures in degrees Celsius.",
            field=HISTORY_FIELD,
        )
    return round(value, 4)


def training_range_warning(engine: Engine, windows: np.ndarray) -> str | None:
    """Warn when readings fall outside the range of the model's training data, where it extrapolates."""
    training = engine.manifest.training_data
    low, high = training.get("min"), training.get("max")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return None
    outside = int(np.count_nonzero((windows < low) | (windows > high)))
    if not outside:
        return None
    return (
        f"{outside} readings are outside the range the model was trained on ({low:.1f} to {high:.1f} °C), "
        "so the forecast is an extrapolation and may be far off"
    )


class PredictResource:
    """POST /predict: forecast the next reading from a history sent in the request."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context
        body = read_json_body(req, context.max_body_bytes)
        request = parse_forecast_request(body, context.max_history)
        engine = context.require_engine()

        n_lags = engine.n_lags
        received = len(request.history)
        if received < n_lags and not request.pad:
            raise ApiError(
                422,
                "bad_history_length",
                "History too short",
                f"History has {received} readings, the model uses {n_lags}; send at least {n_lags} readings, "
                "or leave out \"pad\": false to pad in front with copies of the oldest reading.",
                field=HISTORY_FIELD,
            )
        fitted = fit_history(request.history, n_lags, pad=request.pad)

        warnings = []
        if fitted.padded:
            warnings.append(
                f"history has {received} readings, the model uses {n_lags}; the oldest reading was repeated "
                f"{fitted.padded} times in front, so the forecast assumes the temperature was flat before it"
            )
        if fitted.dropped:
            warnings.append(
                f"history has {received} readings, the model uses {n_lags}; the oldest {fitted.dropped} were not used"
            )
        outside = training_range_warning(engine, fitted.window)
        if outside:
            warnings.append(outside)

        resp.media = {
            "predicted_temperature": forecast(engine, fitted.window),
            "unit": engine.manifest.unit,
            "input_length": received,
            "readings_used": n_lags,
            "padded": fitted.padded,
            "warnings": warnings,
            "model_used": model_label(engine),
            "timestamp": context.now_iso(),
            "model_metadata": model_summary(engine),
        }


class BatchPredictResource:
    """POST /predict/batch: forecast the next reading for each of several histories in one model call."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context
        body = read_json_body(req, context.max_body_bytes)
        request = parse_batch_request(body, context.max_history, context.max_batch)
        engine = context.require_engine()
        n_lags = engine.n_lags

        if all(len(history) == n_lags for history in request.histories):
            # The usual batch: every history fits the window, so one conversion replaces a loop.
            windows = np.asarray(request.histories, dtype=np.float64)
            padded = [0] * len(request.histories)
        else:
            windows, padded = _fit_histories(request.histories, n_lags, request.pad)

        predictions = engine.predict(windows)
        not_finite = overflowed_rows(predictions)
        if not_finite.size:
            index = int(not_finite[0])
            raise ApiError(
                422,
                "prediction_not_finite",
                "Forecast is not finite",
                f"The model returned {float(predictions[index])!r} for {BATCH_FIELD}[{index}], which happens when "
                "readings are far outside the range it was trained on; send temperatures in degrees Celsius.",
                field=f"{BATCH_FIELD}[{index}]",
            )

        warnings = []
        padded_count = sum(1 for count in padded if count)
        if padded_count:
            warnings.append(
                f"{padded_count} of {len(padded)} histories are shorter than the model's {n_lags} readings and were "
                "padded in front with copies of their oldest reading; see \"padded\" for how many per history"
            )
        outside = training_range_warning(engine, windows)
        if outside:
            warnings.append(outside)
        resp.media = {
            "predicted_temperatures": np.round(predictions.astype(np.float64), 4).tolist(),
            "unit": engine.manifest.unit,
            "count": len(padded),
            "readings_used": n_lags,
            "padded": padded,
            "warnings": warnings,
            "model_used": model_label(engine),
            "timestamp": context.now_iso(),
            "model_metadata": model_summary(engine),
        }


def _fit_histories(histories: list[list[float]], n_lags: int, pad: bool) -> tuple[np.ndarray, list[int]]:
    """Cut or pad each history to the model's window; return the windows and the padding per history."""
    windows = np.empty((len(histories), n_lags), dtype=np.float64)
    padded = []
    for index, history in enumerate(histories):
        if len(history) < n_lags and not pad:
            raise ApiError(
                422,
                "bad_history_length",
                "History too short",
                f"{BATCH_FIELD}[{index}] has {len(history)} readings, the model uses {n_lags}; send at least "
                f"{n_lags} readings in every history, or leave out \"pad\": false to pad in front.",
                field=f"{BATCH_FIELD}[{index}]",
            )
        fitted = fit_history(history, n_lags, pad=pad)
        windows[index] = fitted.window
        padded.append(fitted.padded)
    return windows, padded


class LivePredictResource:
    """GET /predict/live: forecast from the sensor's most recent readings of the current segment."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context
        sensor = require_sensor(context)
        engine = context.require_engine()
        n_lags = engine.n_lags
        status = sensor.status()
        if status.get("state") != STATE_CONNECTED:
            raise ApiError(
                503,
                "sensor_disconnected",
                "Sensor disconnected",
                f"The sensor on {status.get('port')} is {status.get('state')} (last error: {status.get('last_error')}); "
                "check the cable and the port, the reader reconnects by itself.",
            )
        readings = _current_window(sensor, n_lags)
        if readings is None:
            have = sensor.status().get("segment_length", "fewer")
            raise ApiError(
                409,
                "not_enough_readings",
                "Not enough readings yet",
                f"The sensor's current segment has {have} readings without a gap, the model needs {n_lags}; "
                f"retry after about {n_lags} readings have arrived (one every {engine.manifest.interval_seconds} s "
                "during training), or POST /predict with your own history.",
            )
        window = np.array([reading.value for reading in readings], dtype=np.float64)
        first, last = readings[0].timestamp, readings[-1].timestamp
        resp.media = finite(
            {
                "predicted_temperature": forecast(engine, window),
                "unit": engine.manifest.unit,
                "readings_used": n_lags,
                "readings": [reading_dict(reading) for reading in readings],
                "first_reading_at": iso_utc(first),
                "last_reading_at": iso_utc(last),
                "span_seconds": round(last - first, 3),
                "model_used": model_label(engine),
                "timestamp": context.now_iso(),
                "model_metadata": model_summary(engine),
            }
        )


class ReadingsResource:
    """GET /readings?limit=N: the latest readings with their timestamps, oldest first."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        context = self.context
        limit = parse_limit(req, default=100, maximum=context.max_readings)
        sensor = require_sensor(context)
        readings = sensor.buffer.latest(limit)
        resp.media = finite(
            {
                "count": len(readings),
                "limit": limit,
                "unit": "degC",
                "readings": [reading_dict(reading) for reading in readings],
                "sensor": sensor.status(),
                "timestamp": context.now_iso(),
            }
        )


def require_sensor(context: AppContext) -> Any:
    if context.sensor is None:
        raise ApiError(
            503,
            "no_sensor",
            "No sensor configured",
            "The agent runs without a sensor; set SERIAL_PORT (or --serial-port) to a device path or pyserial URL "
            "and restart, or POST /predict with your own history.",
        )
    return context.sensor


def reading_dict(reading: Any) -> dict[str, Any]:
    return {"timestamp": iso_utc(reading.timestamp), "unix_seconds": reading.timestamp, "value": reading.value}


def _current_window(sensor: Any, n_lags: int) -> list[Any] | None:
    """Return the last ``n_lags`` readings of the current segment, or None if it is shorter.

    ``history`` tracks segments but has no timestamps and ``latest`` has timestamps but ignores
    segments, so the two are read and compared; a reading that lands between the two calls
    makes them differ, and the pair is read again. After the last attempt the readings from
    ``latest`` are used, because the segment was long enough a moment before.
    """
    buffer = sensor.buffer
    readings: list[Any] = []
    for _ in range(_LIVE_ATTEMPTS):
        values = buffer.history(n_lags)
        if values is None:
            return None
        readings = buffer.latest(n_lags)
        if [reading.value for reading in readings] == list(values):
            break
    return readings
