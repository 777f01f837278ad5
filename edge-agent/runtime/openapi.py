"""The OpenAPI 3.1 document of the agent's HTTP API, served on ``GET /openapi.json``.

Everything the document states is written in this module: one :class:`Operation` per route and
method in ``OPERATIONS``, the JSON schemas of the bodies (JSON Schema 2020-12, as OpenAPI 3.1
uses), and every error code with its HTTP statuses in ``ERROR_CODES``. The tests compare
``OPERATIONS`` with the routes the app registers, ``ERROR_CODES`` with the codes the runtime
source raises, and the schemas with real responses, so an undocumented route or code fails them.
The limits in the schemas (``max_history``, ``max_batch``) come from the app's configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import falcon

from edge_agent.runtime.api_v2 import DATATYPES, PLATFORM, is_v2_path, server_version
from edge_agent.runtime.context import AppContext

OPENAPI_VERSION = "3.1.0"
ERROR_SCHEMA = "Error"
V2_ERROR_SCHEMA = "V2Error"

# code: (HTTP statuses it is sent with, meaning)
ERROR_CODES: dict[str, tuple[tuple[int, ...], str]] = {
    "invalid_json": ((400,), "the body is not valid UTF-8 JSON"),
    "empty_body": ((400,), "the body is empty"),
    "bad_request": ((400,), "Falcon rejected the request"),
    "missing_token": ((401,), "no bearer token in the Authorization header"),
    "unauthorized": ((401,), "Falcon rejected the credentials"),
    "invalid_token": ((403,), "the bearer token does not match AGENT_TOKEN"),
    "forbidden": ((403,), "Falcon refused the request"),
    "not_found": ((404,), "no endpoint at this path"),
    "model_not_found": ((404,), "V2: the agent does not serve a model of this name"),
    "model_version_not_found": ((404,), "V2: this version is not the active one"),
    "method_not_allowed": ((405,), "the endpoint does not accept this method; see the Allow header"),
    "not_acceptable": ((406,), "Falcon cannot produce the media type the Accept header requests"),
    "length_required": ((411,), "Falcon requires a Content-Length"),
    "too_many_requests": ((429,), "Falcon rate limit"),
    "not_enough_readings": ((409,), "the sensor's current segment is shorter than the model's window"),
    "pull_in_progress": ((409,), "another pull or rollback is running"),
    "no_rollback_target": ((409,), "no other intact version is kept"),
    "body_too_large": ((413,), "the body is larger than max_body_bytes"),
    "unsupported_media_type": ((415,), "the Content-Type is not application/json"),
    "body_not_object": ((422,), "the body is not a JSON object"),
    "unknown_field": ((422,), "the body has a field the endpoint does not accept"),
    "missing_field": ((422,), "a required field is missing"),
    "not_a_list": ((422,), "a field that must be a list is not"),
    "empty_history": ((422,), "a history is empty"),
    "history_too_long": ((422,), "a history has more than max_history readings"),
    "empty_batch": ((422,), "a batch has no history or row"),
    "batch_too_large": ((422,), "a batch has more than max_batch histories or rows"),
    "not_a_number": ((422,), "a reading is not a number"),
    "non_finite_value": ((422,), "a reading is NaN or infinite"),
    "value_out_of_range": ((422,), "a reading is beyond the range of its datatype or of the model's type"),
    "not_a_boolean": ((422,), "a flag is not true or false"),
    "bad_history_length": ((422,), "a history is shorter than the model's window and padding is off"),
    "prediction_not_finite": ((422,), "the model returned NaN or infinity for these readings"),
    "bad_limit": ((422,), "the limit query parameter is not an integer in range"),
    "unprocessable_entity": ((422,), "Falcon rejected the body"),
    "wrong_type": ((422,), "V2: a field has the wrong JSON type"),
    "bad_input_count": ((422,), "V2: the request does not have exactly one input tensor"),
    "unknown_input": ((422,), "V2: the input tensor's name is not the model's input"),
    "unknown_output": ((422,), "V2: a requested output is not the model's output"),
    "unsupported_datatype": ((422,), "V2: the datatype is not numeric"),
    "bad_shape": ((422,), "V2: the shape is not [rows, n_lags]"),
    "shape_data_mismatch": ((422,), "V2: the data does not have the shape's number of values"),
    "not_an_integer": ((422,), "V2: a value of an integer datatype has a fraction"),
    "digest_mismatch": ((422,), "pull: the ONNX file's SHA-256 differs from the manifest"),
    "bad_manifest": ((422,), "pull: the manifest is missing or malformed"),
    "model_load_failed": ((422,), "pull: ONNX Runtime cannot load the model"),
    "reference_mismatch": ((422,), "pull: the model does not reproduce its reference outputs"),
    "download_too_large": ((422,), "pull: a bundle file is larger than max_download_bytes"),
    "bundle_rejected": ((422,), "pull: the bundle failed a check"),
    "version_rejected": ((422,), "pull: the alias points to a version rejected before"),
    "alias_not_found": ((502,), "pull: the alias or registered model does not exist"),
    "registry_bad_response": ((502,), "pull: the registry's response is not what the agent needs"),
    "registry_unavailable": ((502, 503), "pull: the registry answered 5xx (502), or is unreachable or timed out (503)"),
    "no_model_loaded": ((503,), "no model is loaded yet"),
    "no_sensor": ((503,), "the agent runs without a sensor"),
    "sensor_disconnected": ((503,), "the sensor is not connected"),
    "registry_not_configured": ((503,), "pull: no registry URL is configured"),
    "service_unavailable": ((503,), "Falcon reports the service unavailable"),
    "internal_error": ((500,), "unexpected failure; the traceback is in the agent's log"),
    "agent_error": ((500,), "pull: unexpected failure of the update"),
    "store_error": ((500,), "pull: unexpected failure of the model store"),
}

_BODY_ERRORS = ("invalid_json", "empty_body", "body_too_large", "unsupported_media_type", "body_not_object")
_VALUE_ERRORS = ("not_a_number", "non_finite_value", "value_out_of_range")
_HISTORY_ERRORS = ("unknown_field", "missing_field", "not_a_list", "empty_history", "history_too_long", "not_a_boolean")
_BUNDLE_ERRORS = (
    "digest_mismatch", "bad_manifest", "model_load_failed", "reference_mismatch", "download_too_large", "bundle_rejected"
)
_AUTH_ERRORS = ("missing_token", "invalid_token")
_V2_MODEL_ERRORS = ("model_not_found", "model_version_not_found", "no_model_loaded")
_V2_INFER_ERRORS = (
    "unknown_field", "missing_field", "not_a_list", "wrong_type", "bad_input_count", "unknown_input", "unknown_output",
    "unsupported_datatype", "bad_shape", "empty_batch", "batch_too_large", "shape_data_mismatch", "not_an_integer",
    "prediction_not_finite",
)


@dataclass(frozen=True)
class Operation:
    """One documented route and method, with its bodies and the error codes it can return."""

    method: str
    path: str
    operation_id: str
    summary: str
    response_schema: str | None  # None: the body is text, described by response_media
    errors: tuple[str, ...] = ()
    request_schema: str | None = None
    query: tuple[dict[str, Any], ...] = ()
    response_media: str = falcon.MEDIA_JSON
    success_status: int = 200

    @property
    def tag(self) -> str:
        return "Open Inference Protocol (V2)" if is_v2_path(self.path) else "Agent"


_LIMIT_QUERY = {
    "name": "limit", "in": "query", "required": False,
    "description": "Number of latest readings, 1 to 10000.",
    "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
}
_FORCE_QUERY = {
    "name": "force", "in": "query", "required": False,
    "description": "Pull even a version rejected before (true/false, 1/0, yes/no).",
    "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"], "default": "false"},
}
_V2_MODEL_PATHS = ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}")


def _v2_model_operations() -> list[Operation]:
    operations = []
    for path in _V2_MODEL_PATHS:
        versioned = "{model_version}" in path
        suffix = "Version" if versioned else ""
        operations += [
            Operation("GET", path, f"v2ModelMetadata{suffix}", "V2 model metadata: platform, versions, inputs, outputs",
                      "V2ModelMetadata", _V2_MODEL_ERRORS),
            Operation("GET", path + "/ready", f"v2ModelReady{suffix}", "V2 model readiness", "V2ModelReady",
                      _V2_MODEL_ERRORS),
            Operation("POST", path + "/infer", f"v2Infer{suffix}", "V2 inference: forecasts for rows of n_lags readings",
                      "V2InferenceResponse", _V2_MODEL_ERRORS + _BODY_ERRORS + _VALUE_ERRORS + _V2_INFER_ERRORS,
                      request_schema="V2InferenceRequest"),
        ]
    return operations


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/health", "getHealth", "Model, sensor and last pull; always 200", "HealthResponse"),
    Operation("GET", "/health/live", "getLiveness", "200 while the process answers", "LivenessResponse"),
    Operation("GET", "/health/ready", "getReadiness", "200 once a model serves forecasts", "ReadinessResponse",
              ("no_model_loaded",)),
    Operation("POST", "/predict", "predict", "Forecast the next reading from a history", "PredictResponse",
              _BODY_ERRORS + _HISTORY_ERRORS + _VALUE_ERRORS + ("bad_history_length", "prediction_not_finite",
                                                                "no_model_loaded"),
              request_schema="PredictRequest"),
    Operation("POST", "/predict/batch", "predictBatch", "Forecast the next reading for several histories",
              "BatchPredictResponse",
              _BODY_ERRORS + _HISTORY_ERRORS + _VALUE_ERRORS + ("empty_batch", "batch_too_large", "bad_history_length",
                                                                "prediction_not_finite", "no_model_loaded"),
              request_schema="BatchPredictRequest"),
    Operation("GET", "/predict/live", "predictLive", "Forecast from the sensor's latest readings",
              "LivePredictResponse",
              ("no_sensor", "sensor_disconnected", "not_enough_readings", "no_model_loaded", "prediction_not_finite")),
    Operation("GET", "/readings", "getReadings", "Latest sensor readings, oldest first", "ReadingsResponse",
              ("bad_limit", "no_sensor"), query=(_LIMIT_QUERY,)),
    Operation("GET", "/model", "getModel", "Active, kept and rejected versions, registry settings", "ModelResponse"),
    Operation("POST", "/model/reload", "reloadModel", "Pull the version the alias points to now", "PullResult",
              _AUTH_ERRORS + ("not_a_boolean", "pull_in_progress", "registry_not_configured", "alias_not_found",
                              "registry_bad_response", "registry_unavailable", "version_rejected", "agent_error",
                              "store_error") + _BUNDLE_ERRORS,
              query=(_FORCE_QUERY,)),
    Operation("POST", "/model/rollback", "rollbackModel", "Make the previous kept version active again", "PullResult",
              _AUTH_ERRORS + ("pull_in_progress", "no_rollback_target", "agent_error", "store_error") + _BUNDLE_ERRORS),
    Operation("GET", "/metrics", "getMetrics", "Prometheus text format", None,
              response_media="text/plain; version=0.0.4"),
    Operation("GET", "/openapi.json", "getOpenApi", "This OpenAPI 3.1 document", "OpenApiDocument"),
    Operation("GET", "/v2", "v2ServerMetadata", "V2 server metadata", "V2ServerMetadata"),
    Operation("GET", "/v2/health/live", "v2ServerLive", "V2 server liveness", "V2ServerLive"),
    Operation("GET", "/v2/health/ready", "v2ServerReady", "V2 server readiness", "V2ServerReady",
              ("no_model_loaded",)),
    *_v2_model_operations(),
)


class OpenApiResource:
    """GET /openapi.json: the OpenAPI 3.1 document of every endpoint, with the configured limits."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = build_document(self.context)


def build_document(context: AppContext) -> dict[str, Any]:
    """Build the OpenAPI document from ``OPERATIONS``, the schemas and ``ERROR_CODES``."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation_object(operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Edge agent API",
            "version": server_version(),
            "description": (
                "Temperature forecasts from the ONNX model the agent pulled from the MLflow registry, the sensor's "
                "readings, and model updates. The Open Inference Protocol (KServe V2 REST) is served under /v2. "
                "Every error, including unknown paths (404 not_found) and wrong methods (405 method_not_allowed), "
                "has the Error body; under /v2 it also has the V2 'error' key."
            ),
        },
        "tags": [{"name": "Agent"}, {"name": "Open Inference Protocol (V2)"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(context),
            "securitySchemes": {"bearerToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation_object(operation: Operation) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", operation.path)
    ]
    parameters += list(operation.query)

    if operation.response_schema is not None:
        success_schema: dict[str, Any] = _ref(operation.response_schema)
    else:
        success_schema = {"type": "string"}
    responses: dict[str, Any] = {
        str(operation.success_status): {
            "description": operation.summary,
            "content": {operation.response_media: {"schema": success_schema}},
        }
    }

    error_schema = V2_ERROR_SCHEMA if is_v2_path(operation.path) else ERROR_SCHEMA
    by_status: dict[int, list[str]] = {}
    for code in operation.errors + ("internal_error",):
        for status in ERROR_CODES[code][0]:
            by_status.setdefault(status, []).append(code)
    for status, codes in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "; ".join(f"`{code}`: {ERROR_CODES[code][1]}" for code in codes),
            "x-error-codes": codes,
            "content": {falcon.MEDIA_JSON: {"schema": _ref(error_schema)}},
        }

    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": responses,
    }
    if parameters:
        document["parameters"] = parameters
    if operation.request_schema is not None:
        document["requestBody"] = {
            "required": True,
            "content": {falcon.MEDIA_JSON: {"schema": _ref(operation.request_schema)}},
        }
    if set(_AUTH_ERRORS) <= set(operation.errors):
        # The token is needed only when the agent is configured with one.
        document["security"] = [{}, {"bearerToken": []}]
    return document


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema["required"] = list(properties) if required is None else required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _array(items: dict[str, Any], **limits: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **limits}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIMESTAMP = {"type": "string", "format": "date-time"}


def _schemas(context: AppContext) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    schemas.update(_error_schemas())
    schemas.update(_native_schemas(context))
    schemas.update(_v2_schemas(context))
    return schemas


def _error_schemas() -> dict[str, Any]:
    properties = {
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "enum": sorted(ERROR_CODES)},
        "title": STRING,
        "description": {"type": "string", "description": "What was wrong, the value received, what to do next."},
        "field": {"type": "string", "description": "The field, list index or query parameter to blame, if one is."},
    }
    required = ["status", "code", "title", "description"]
    v2_properties = dict(properties, error={"type": "string", "description": "Same text as description."})
    return {
        ERROR_SCHEMA: _object(properties, required),
        V2_ERROR_SCHEMA: _object(v2_properties, required + ["error"]),
    }


def _native_schemas(context: AppContext) -> dict[str, Any]:
    history = _array(NUMBER, minItems=1, maxItems=context.max_history,
                     description="Readings in degrees Celsius, oldest first.")
    pad = {"type": "boolean", "default": True,
           "description": "Pad a short history in front with copies of its oldest reading."}
    number_or_null = _nullable(NUMBER)
    model_summary = _object({
        "model_name": STRING, "version": STRING, "run_id": STRING, "model_family": STRING, "n_lags": INTEGER,
        "unit": STRING, "interval_seconds": INTEGER, "rmse": number_or_null, "mae": number_or_null,
        "naive_rmse": number_or_null, "onnx_sha256": STRING, "created_at": STRING,
    })
    reading = _object({"timestamp": TIMESTAMP, "unix_seconds": NUMBER, "value": NUMBER})
    sensor = _object(
        {"port": STRING, "state": {"type": "string", "enum": ["connected", "disconnected", "stopped"]},
         "last_error": _nullable(STRING), "segment_length": INTEGER},
        required=["port", "state"],
        closed=False,
    )
    pull_properties = {
        "result": STRING, "version": _nullable(STRING), "previous_version": _nullable(STRING), "state": STRING,
        "started_at": STRING, "duration_seconds": NUMBER, "message": STRING, "error_code": STRING,
        "transient": BOOLEAN, "model_metadata": _nullable(_ref("ModelSummary")),
    }
    pull = _object(pull_properties, required=["result", "version", "state", "message"])
    last_pull = dict(pull, properties={key: value for key, value in pull_properties.items() if key != "model_metadata"})
    return {
        "ModelSummary": model_summary,
        "Reading": reading,
        "SensorStatus": sensor,
        "PullResult": pull,
        "LastPull": last_pull,
        "PredictRequest": dict(
            _object({"temperature_history": history, "pad": pad}, required=["temperature_history"]),
            examples=[{"temperature_history": [21.0, 21.2, 21.5, 21.4, 21.8, 22.0], "pad": True}],
        ),
        "BatchPredictRequest": dict(
            _object({"histories": _array(history, minItems=1, maxItems=context.max_batch), "pad": pad},
                    required=["histories"]),
            examples=[{"histories": [[21.0, 21.2, 21.5], [18.0, 18.1, 18.3]], "pad": True}],
        ),
        "PredictResponse": _object({
            "predicted_temperature": NUMBER, "unit": STRING, "input_length": INTEGER, "readings_used": INTEGER,
            "padded": INTEGER, "warnings": _array(STRING), "model_used": STRING, "timestamp": TIMESTAMP,
            "model_metadata": _ref("ModelSummary"),
        }),
        "BatchPredictResponse": _object({
            "predicted_temperatures": _array(NUMBER), "unit": STRING, "count": INTEGER, "readings_used": INTEGER,
            "padded": _array(INTEGER), "warnings": _array(STRING), "model_used": STRING, "timestamp": TIMESTAMP,
            "model_metadata": _ref("ModelSummary"),
        }),
        "LivePredictResponse": _object({
            "predicted_temperature": NUMBER, "unit": STRING, "readings_used": INTEGER,
            "readings": _array(_ref("Reading")), "first_reading_at": TIMESTAMP, "last_reading_at": TIMESTAMP,
            "span_seconds": NUMBER, "model_used": STRING, "timestamp": TIMESTAMP,
            "model_metadata": _ref("ModelSummary"),
        }),
        "ReadingsResponse": _object({
            "count": INTEGER, "limit": INTEGER, "unit": STRING, "readings": _array(_ref("Reading")),
            "sensor": _ref("SensorStatus"), "timestamp": TIMESTAMP,
        }),
        "HealthResponse": _object({
            "status": {"type": "string", "enum": ["healthy", "degraded", "no_model"]},
            "reasons": _array(STRING), "timestamp": TIMESTAMP, "model_loaded": BOOLEAN,
            "model_metadata": _nullable(_ref("ModelSummary")), "sensor": _nullable(_ref("SensorStatus")),
            "last_pull": _nullable(_ref("LastPull")),
        }),
        "LivenessResponse": _object({"status": {"const": "alive"}}),
        "ReadinessResponse": _object({"status": {"const": "ready"}, "version": STRING}),
        "ModelResponse": _object({
            "active": _nullable(_ref("ModelSummary")),
            "kept_versions": _array(_object({
                "version": STRING, "active": BOOLEAN,
                "model_metadata": _nullable(_object(dict(model_summary["properties"]), closed=False)),
            })),
            "keep": INTEGER,
            "rejected_versions": {"type": "object", "additionalProperties": _object(
                {"code": STRING, "reason": STRING, "at": STRING}, closed=False)},
            "registry": _object({"url": _nullable(STRING), "model_name": STRING, "alias": STRING}),
            "last_pull": _nullable(_ref("LastPull")),
        }),
        "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    }


def _v2_schemas(context: AppContext) -> dict[str, Any]:
    datatype = {"type": "string", "enum": sorted(DATATYPES) + ["BOOL", "BYTES"]}
    parameters = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
    shape = _array({"type": "integer", "minimum": 0})
    tensor_metadata = _object({"name": STRING, "datatype": datatype, "shape": _array(INTEGER)})
    # The example fits the active model when one is loaded, so that it can be sent as it is.
    engine = context.holder.get()
    n_lags = engine.n_lags if engine is not None else 3
    input_name = engine.manifest.input_name if engine is not None else "input"
    example_row = [round(21.0 + 0.1 * index, 1) for index in range(n_lags)]
    flat_or_nested = {"type": "array", "items": {"oneOf": [NUMBER, _array(NUMBER)]},
                      "description": "Row-major values, flat or as one list per row."}
    return {
        "V2ServerMetadata": _object({"name": STRING, "version": STRING, "extensions": _array(STRING)}),
        "V2ServerLive": _object({"live": BOOLEAN}),
        "V2ServerReady": _object({"ready": BOOLEAN}),
        "V2ModelReady": _object({"name": STRING, "ready": BOOLEAN}),
        "V2Parameters": parameters,
        "V2TensorMetadata": tensor_metadata,
        "V2ModelMetadata": _object({
            "name": STRING, "versions": _array(STRING), "platform": {"type": "string", "const": PLATFORM},
            "inputs": _array(_ref("V2TensorMetadata")), "outputs": _array(_ref("V2TensorMetadata")),
        }),
        "V2RequestInput": _object(
            {"name": STRING, "shape": shape, "datatype": datatype, "parameters": _ref("V2Parameters"),
             "data": flat_or_nested},
            required=["name", "shape", "datatype", "data"],
        ),
        "V2RequestOutput": _object({"name": STRING, "parameters": _ref("V2Parameters")}, required=["name"]),
        "V2InferenceRequest": dict(
            _object(
                {"id": STRING, "parameters": _ref("V2Parameters"),
                 "inputs": _array(_ref("V2RequestInput"), minItems=1, maxItems=1),
                 "outputs": _array(_ref("V2RequestOutput"))},
                required=["inputs"],
            ),
            description=f"One input tensor of shape [rows, n_lags], 1 to {context.max_batch} rows; n_lags is in the "
                        "model metadata.",
            examples=[{"id": "42", "inputs": [{"name": input_name, "shape": [1, n_lags], "datatype": "FP32",
                                               "data": [example_row]}]}],
        ),
        "V2ResponseOutput": _object({"name": STRING, "shape": shape, "datatype": datatype, "data": _array(NUMBER)}),
        "V2InferenceResponse": _object({
            "model_name": STRING, "model_version": STRING, "id": STRING,
            "outputs": _array(_ref("V2ResponseOutput")),
        }),
    }
