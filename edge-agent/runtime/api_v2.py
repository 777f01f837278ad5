"""Open Inference Protocol (KServe V2 REST) endpoints, served beside the native API.

Standard V2 clients (KServe, Triton and MLServer clients, ``curl``) can call the agent through:

- ``GET /v2`` (server metadata), ``GET /v2/health/live``, ``GET /v2/health/ready``
- ``GET /v2/models/{model_name}[/versions/{model_version}]`` (model metadata)
- ``GET /v2/models/{model_name}[/versions/{model_version}]/ready``
- ``POST /v2/models/{model_name}[/versions/{model_version}]/infer``

The agent serves one model: the active version of the registered model it follows. Only that
version is loaded, so model metadata lists only that version, and a request for another kept
version gets 404 ``model_version_not_found`` (a rollback makes the previous one active).

An inference request carries exactly one input tensor, named as the model's input, of shape
``[rows, n_lags]``: one history of ``n_lags`` readings per row, oldest first, in degrees Celsius.
``data`` is flat (row-major) or nested as ``[[...], [...]]``. Any numeric datatype is accepted;
each value must fit that datatype and the type the model declares, and is cast to the latter.
Rows are not padded, unlike ``POST /predict``.

Errors carry the agent's one error body plus an ``error`` key with the same text as
``description``, because the V2 specification's error object is ``{"error": "<message>"}``.
:class:`V2ErrorMiddleware` adds that key to every error response under ``/v2``.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import falcon
import numpy as np

from edge_agent.runtime.context import AppContext
from edge_agent.runtime.engine import Engine, overflowed_rows
from edge_agent.runtime.errors import ApiError
from edge_agent.runtime.validation import (
    check_number,
    json_type,
    read_json_body,
    require_finite_number,
    short_error,
    show_value,
)

logger = logging.getLogger(__name__)

V2_PREFIX = "/v2"
SERVER_NAME = "cps-edge-agent"
DISTRIBUTION = "cyber-physical-edge-agent"
# The V2 specification names platforms <project>_<format> and lists onnx_onnxv1 for ONNX Runtime.
PLATFORM = "onnx_onnxv1"
INPUTS_FIELD = "inputs"
_REQUEST_FIELDS = ("id", "parameters", "inputs", "outputs")
_INPUT_FIELDS = ("name", "shape", "datatype", "parameters", "data")
_OUTPUT_FIELDS = ("name", "parameters")
# Manifest input types (edge_agent.bundle) to V2 tensor data types.
_MANIFEST_DATATYPES = {"float16": "FP16", "float32": "FP32", "float64": "FP64"}


@dataclass(frozen=True)
class Datatype:
    """A V2 tensor data type that the agent accepts: whether values must be integers, and their range."""

    name: str
    integer: bool
    low: float
    high: float


def _datatypes() -> dict[str, Datatype]:
    types = {}
    for name, numpy_type in (("FP16", np.float16), ("FP32", np.float32), ("FP64", np.float64)):
        limit = float(np.finfo(numpy_type).max)
        types[name] = Datatype(name, False, -limit, limit)
    for bits in (8, 16, 32, 64):
        for prefix, numpy_name in (("INT", "int"), ("UINT", "uint")):
            info = np.iinfo(f"{numpy_name}{bits}")
            types[f"{prefix}{bits}"] = Datatype(f"{prefix}{bits}", True, int(info.min), int(info.max))
    return types


DATATYPES = _datatypes()
# Valid V2 data types that cannot carry a temperature.
_NON_NUMERIC_DATATYPES = ("BOOL", "BYTES")


@dataclass(frozen=True)
class InferRequest:
    """A checked inference request: its id, if any, and the rows to forecast."""

    request_id: str | None
    rows: np.ndarray  # float64, shape (rows, n_lags)


def server_version() -> str:
    """Return the installed version of the agent, or ``0+unknown`` when it runs from a source tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def model_datatype(engine: Engine) -> str:
    """Return the V2 data type of the model's input, from the manifest's ``input_type``."""
    return _MANIFEST_DATATYPES.get(engine.manifest.input_type, "FP32")


def model_metadata(engine: Engine) -> dict[str, Any]:
    """Describe the active model as the V2 model metadata object."""
    manifest = engine.manifest
    datatype = model_datatype(engine)
    return {
        "name": manifest.model_name,
        "versions": [engine.version],
        "platform": PLATFORM,
        "inputs": [{"name": manifest.input_name, "datatype": datatype, "shape": [-1, engine.n_lags]}],
        # NOTE: the manifest does not record the output type; skl2onnx regressors return the input's
        # float type, so the output is declared with the input's datatype.
        "outputs": [{"name": manifest.output_name, "datatype": datatype, "shape": [-1, 1]}],
    }


def resolve_engine(context: AppContext, model_name: str, model_version: str | None) -> Engine:
    """Return the engine that serves ``model_name`` (at ``model_version`` when given).

    Raises 404 ``model_not_found`` for a name the agent does not serve, 503 ``no_model_loaded``
    before the first model is loaded, and 404 ``model_version_not_found`` for any version but
    the active one.
    """
    engine = context.holder.get()
    served = {context.updater.model_name}
    if engine is not None:
        served.add(engine.manifest.model_name)
    if model_name not in served:
        followed = engine.manifest.model_name if engine is not None else context.updater.model_name
        raise ApiError(
            404,
            "model_not_found",
            "Model not found",
            f"This agent serves the model {followed!r}, not {model_name!r}; send requests to "
            f"/v2/models/{followed} instead.",
        )
    engine = context.require_engine()
    if model_version is not None and model_version != engine.version:
        kept_versions = context.store.kept_versions()
        where = "is kept on this device but not active" if model_version in kept_versions else "is not on this device"
        raise ApiError(
            404,
            "model_version_not_found",
            "Model version not found",
            f"Version {model_version!r} of {model_name!r} {where}; the agent serves only the active "
            f"version {engine.version!r}. Leave the version out of the path, or make it active with "
            "POST /model/rollback or a pull.",
        )
    return engine


class V2ErrorMiddleware:
    """Add the V2 ``error`` key, a copy of ``description``, to every error response under ``/v2``.

    It runs after the error serializer and after :class:`StrictJsonMiddleware` has written a 500,
    so Falcon's own 404 and 405 responses and unexpected errors get the key too.
    """

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        if not is_v2_path(req.path) or resp.text is None:
            return
        if falcon.http_status_to_code(resp.status) < 400:
            return
        try:
            body = json.loads(resp.text)
        except ValueError:
            logger.warning("error response of %s %s is not JSON, sent without the V2 error key", req.method, req.path)
            return
        if isinstance(body, dict) and isinstance(body.get("description"), str):
            body["error"] = body["description"]
            resp.text = json.dumps(body, allow_nan=False)


def is_v2_path(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


class ServerMetadataResource:
    """GET /v2: the server's name, version and protocol extensions (none)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"name": SERVER_NAME, "version": server_version(), "extensions": []}


class ServerLiveResource:
    """GET /v2/health/live: 200 while the process handles requests."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"live": True}


class ServerReadyResource:
    """GET /v2/health/ready: 200 once a model serves forecasts, 503 ``no_model_loaded`` before."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.context.require_engine()
        resp.media = {"ready": True}


class ModelResourceV2:
    """The per-model V2 endpoints: metadata (``on_get``), readiness (suffix ``ready``) and inference (suffix ``infer``).

    Routes with and without ``/versions/{model_version}`` share this class; ``model_version`` is
    absent from the parameters of the routes without it.
    """

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def on_get(self, req: falcon.Request, resp: falcon.Response, model_name: str, model_version: str | None = None) -> None:
        engine = resolve_engine(self.context, model_name, model_version)
        resp.media = model_metadata(engine)

    def on_get_ready(
        self, req: falcon.Request, resp: falcon.Response, model_name: str, model_version: str | None = None
    ) -> None:
        engine = resolve_engine(self.context, model_name, model_version)
        resp.media = {"name": engine.manifest.model_name, "ready": True}

    def on_post_infer(
        self, req: falcon.Request, resp: falcon.Response, model_name: str, model_version: str | None = None
    ) -> None:
        context = self.context
        engine = resolve_engine(context, model_name, model_version)
        body = _read_body(req, context.max_body_bytes)
        request = parse_infer_request(body, engine, context.max_batch)

        predictions = engine.predict(request.rows)
        not_finite = overflowed_rows(predictions)
        if not_finite.size:
            row = int(not_finite[0])
            raise ApiError(
                422,
                "prediction_not_finite",
                "Forecast is not finite",
                f"The model returned {float(predictions[row])!r} for row {row} of inputs[0], which happens when "
                "readings are far outside the range it was trained on; send temperatures in degrees Celsius.",
                field=f"{INPUTS_FIELD}[0]",
            )

        manifest = engine.manifest
        resp.media = {
            "model_name": manifest.model_name,
            "model_version": engine.version,
            # The specification requires "id" in every response; KServe generates one when the request has none.
            "id": request.request_id if request.request_id is not None else str(uuid.uuid4()),
            "outputs": [
                {
                    "name": manifest.output_name,
                    "shape": [len(predictions), 1],
                    "datatype": model_datatype(engine),
                    "data": predictions.astype(np.float64).tolist(),
                }
            ],
        }


def _read_body(req: falcon.Request, max_body_bytes: int) -> Any:
    """Read the JSON body; an invalid body gets an example of a V2 request instead of a native one."""
    try:
        return read_json_body(req, max_body_bytes)
    except ApiError as error:
        if error.code != "invalid_json":
            raise
        raise ApiError(
            400,
            "invalid_json",
            "Invalid JSON",
            f"The request body is not valid UTF-8 JSON ({short_error(error.__cause__)}); send a V2 inference request such as "
            '{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [22.5, 23.1, 22.8]}]}.',
        ) from error.__cause__


def parse_infer_request(body: Any, engine: Engine, max_batch: int) -> InferRequest:
    """Check a parsed V2 inference request against the model; raise ApiError naming the field at fault."""
    manifest = engine.manifest
    if not isinstance(body, dict):
        raise ApiError(
            422,
            "body_not_object",
            "Body is not an object",
            f"The body is a JSON {json_type(body)}, expected a V2 inference request object with an "
            f"{INPUTS_FIELD!r} list.",
        )
    _check_fields(body, _REQUEST_FIELDS, "", "an inference request")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _wrong_type("id", request_id, "a string")
    if "parameters" in body:
        _check_parameters(body["parameters"], "parameters")
    if "outputs" in body:
        _check_outputs(body["outputs"], manifest.output_name)

    if INPUTS_FIELD not in body:
        raise ApiError(
            422,
            "missing_field",
            "Missing field",
            f"The body has no {INPUTS_FIELD!r} field; send one input tensor named {manifest.input_name!r} "
            f"of shape [rows, {engine.n_lags}].",
            field=INPUTS_FIELD,
        )
    inputs = body[INPUTS_FIELD]
    if not isinstance(inputs, list):
        raise ApiError(
            422,
            "not_a_list",
            "Inputs is not a list",
            f"{INPUTS_FIELD!r} is a JSON {json_type(inputs)}, expected a list with one input tensor.",
            field=INPUTS_FIELD,
        )
    if len(inputs) != 1:
        raise ApiError(
            422,
            "bad_input_count",
            "Wrong number of inputs",
            f"{INPUTS_FIELD!r} has {len(inputs)} tensors, the model has 1 input; send one tensor named "
            f"{manifest.input_name!r}.",
            field=INPUTS_FIELD,
        )
    return InferRequest(request_id, _parse_input(inputs[0], engine, max_batch))


def _parse_input(tensor: Any, engine: Engine, max_batch: int) -> np.ndarray:
    field = f"{INPUTS_FIELD}[0]"
    manifest = engine.manifest
    if not isinstance(tensor, dict):
        raise _wrong_type(field, tensor, "an object with name, shape, datatype and data")
    _check_fields(tensor, _INPUT_FIELDS, f"{field}.", "an input tensor")
    for name in ("name", "shape", "datatype", "data"):
        if name not in tensor:
            raise ApiError(
                422,
                "missing_field",
                "Missing field",
                f"{field} has no {name!r} field; an input tensor has name, shape, datatype and data.",
                field=f"{field}.{name}",
            )
    if "parameters" in tensor:
        _check_parameters(tensor["parameters"], f"{field}.parameters")

    name = tensor["name"]
    if not isinstance(name, str):
        raise _wrong_type(f"{field}.name", name, "a string")
    if name != manifest.input_name:
        raise ApiError(
            422,
            "unknown_input",
            "Unknown input",
            f"{field}.name is {show_value(name)}, the model's input is named {manifest.input_name!r}; "
            "see GET /v2/models/<model_name> for the model's inputs.",
            field=f"{field}.name",
        )

    datatype = _check_datatype(tensor["datatype"], f"{field}.datatype")
    row_count = _check_shape(tensor["shape"], f"{field}.shape", engine.n_lags, max_batch)
    model_type = np.dtype(manifest.input_type) if manifest.input_type in _MANIFEST_DATATYPES else np.dtype(np.float32)
    model_limit = float(np.finfo(model_type).max)
    values = _collect_values(tensor["data"], f"{field}.data", (row_count, engine.n_lags), datatype, model_limit)
    return np.asarray(values, dtype=np.float64).reshape(row_count, engine.n_lags)


def _check_fields(obj: dict[str, Any], known: tuple[str, ...], prefix: str, object_name: str) -> None:
    for key in obj:
        if key not in known:
            raise ApiError(
                422,
                "unknown_field",
                "Unknown field",
                f"{object_name.capitalize()} has the field {key!r}, which the V2 protocol does not define there; "
                f"the accepted fields are {', '.join(known)}.",
                field=f"{prefix}{key}",
            )


def _check_parameters(parameters: Any, field: str) -> None:
    """Check a V2 parameters object; the agent accepts and ignores every parameter."""
    if not isinstance(parameters, dict):
        raise _wrong_type(field, parameters, "an object of string, number or boolean values")
    for key, value in parameters.items():
        if not isinstance(value, (str, int, float)) or (isinstance(value, float) and not math.isfinite(value)):
            raise _wrong_type(f"{field}.{key}", value, "a string, a finite number or a boolean")


def _check_outputs(outputs: Any, output_name: str) -> None:
    if not isinstance(outputs, list):
        raise ApiError(
            422,
            "not_a_list",
            "Outputs is not a list",
            f"'outputs' is a JSON {json_type(outputs)}, expected a list of requested outputs such as "
            f'[{{"name": "{output_name}"}}].',
            field="outputs",
        )
    for index, requested in enumerate(outputs):
        field = f"outputs[{index}]"
        if not isinstance(requested, dict):
            raise _wrong_type(field, requested, "an object with a name")
        _check_fields(requested, _OUTPUT_FIELDS, f"{field}.", "a requested output")
        if "name" not in requested:
            raise ApiError(
                422, "missing_field", "Missing field", f"{field} has no 'name' field.", field=f"{field}.name"
            )
        if "parameters" in requested:
            _check_parameters(requested["parameters"], f"{field}.parameters")
        name = requested["name"]
        if not isinstance(name, str):
            raise _wrong_type(f"{field}.name", name, "a string")
        if name != output_name:
            raise ApiError(
                422,
                "unknown_output",
                "Unknown output",
                f"{field}.name is {show_value(name)}, the model's only output is {output_name!r}; request that one "
                "or leave 'outputs' out.",
                field=f"{field}.name",
            )


def _check_datatype(value: Any, field: str) -> Datatype:
    if not isinstance(value, str):
        raise _wrong_type(field, value, "a V2 datatype string such as \"FP32\"")
    if value not in DATATYPES:
        kind = "cannot carry temperatures" if value in _NON_NUMERIC_DATATYPES else "is not a V2 datatype"
        raise ApiError(
            422,
            "unsupported_datatype",
            "Unsupported datatype",
            f"{field} is {show_value(value)}, which {kind}; send a numeric datatype, ideally the model's "
            f"(see GET /v2/models/<model_name>): {', '.join(DATATYPES)}.",
            field=field,
        )
    return DATATYPES[value]


def _check_shape(shape: Any, field: str, n_lags: int, max_batch: int) -> int:
    """Check ``shape`` is ``[rows, n_lags]`` with 1 to ``max_batch`` rows; return the row count."""
    valid = (
        isinstance(shape, list)
        and all(isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape)
        and len(shape) == 2
        and shape[1] == n_lags
    )
    if not valid:
        if isinstance(shape, list) and len(shape) <= 8:
            shape_text = "[" + ", ".join(show_value(size) for size in shape) + "]"
        else:
            shape_text = show_value(shape)
        raise ApiError(
            422,
            "bad_shape",
            "Invalid shape",
            f"{field} is {shape_text}, expected [rows, {n_lags}]: one row of {n_lags} readings (oldest first) per "
            "forecast. Rows are not padded; send exactly that many readings per row.",
            field=field,
        )
    rows = shape[0]
    if rows == 0:
        raise ApiError(422, "empty_batch", "Empty batch", f"{field} has 0 rows; send at least 1 row.", field=field)
    if rows > max_batch:
        raise ApiError(
            422,
            "batch_too_large",
            "Batch too large",
            f"{field} has {rows} rows, the maximum is {max_batch}; split the request.",
            field=field,
        )
    return rows


def _collect_values(
    data: Any, field: str, shape: tuple[int, int], datatype: Datatype, model_limit: float
) -> list[float]:
    """Flatten ``data`` (flat row-major or nested ``[[...], ...]``) after checking it matches ``shape``."""
    rows, columns = shape
    if not isinstance(data, list):
        raise ApiError(
            422,
            "not_a_list",
            "Data is not a list",
            f"{field} is a JSON {json_type(data)}, expected a list of {rows * columns} numbers, flat or as "
            f"{rows} lists of {columns}.",
            field=field,
        )
    if data and isinstance(data[0], list):
        if len(data) != rows:
            raise _shape_mismatch(field, f"has {len(data)} rows", shape)
        values = []
        for row_index, row in enumerate(data):
            row_field = f"{field}[{row_index}]"
            if not isinstance(row, list) or len(row) != columns:
                got = f"has {len(row)} values" if isinstance(row, list) else f"is a JSON {json_type(row)}"
                raise _shape_mismatch(row_field, got, shape)
            for column, value in enumerate(row):
                values.append(_check_value(value, f"{row_field}[{column}]", datatype, model_limit))
        return values
    if len(data) != rows * columns:
        raise _shape_mismatch(field, f"has {len(data)} values", shape)
    return [_check_value(value, f"{field}[{index}]", datatype, model_limit) for index, value in enumerate(data)]


def _check_value(value: Any, field: str, datatype: Datatype, model_limit: float) -> float:
    require_finite_number(value, field)
    if datatype.integer and isinstance(value, float) and not value.is_integer():
        raise ApiError(
            422,
            "not_an_integer",
            "Not an integer",
            f"{field} is {show_value(value)}, but the datatype {datatype.name} holds integers; send integers, or "
            "declare a floating-point datatype such as FP32.",
            field=field,
        )
    # Python compares int and float exactly, so a huge JSON integer cannot overflow here.
    if not datatype.low <= value <= datatype.high:
        raise ApiError(
            422,
            "value_out_of_range",
            "Value out of range",
            f"{field} is {show_value(value)}, outside the range of the datatype {datatype.name} "
            f"({datatype.low:.6g} to {datatype.high:.6g}); send temperatures in degrees Celsius.",
            field=field,
        )
    return check_number(value, field, model_limit)


def _shape_mismatch(field: str, got: str, shape: tuple[int, int]) -> ApiError:
    rows, columns = shape
    return ApiError(
        422,
        "shape_data_mismatch",
        "Data does not match shape",
        f"{field} {got}, but the shape [{rows}, {columns}] needs {rows * columns} values, flat or as {rows} "
        f"lists of {columns}; make shape and data agree.",
        field=field,
    )


def _wrong_type(field: str, value: Any, expected: str) -> ApiError:
    return ApiError(
        422,
        "wrong_type",
        "Wrong type",
        f"{field} is {show_value(value)}, expected {expected}.",
        field=field,
    )
