"""Open Inference Protocol (KServe V2 REST) endpoints: metadata, health, inference and the V2 error key."""

from __future__ import annotations

import http.client
import json
import math
import threading

import pytest
import waitress
from falcon import testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import LOOPBACK
from edge_agent.runtime.api_v2 import PLATFORM

from runtime_helpers import ERROR_KEYS, Agent

MODEL = "temperature-forecaster"
INFER = f"/v2/models/{MODEL}/infer"
JSON = {"Content-Type": "application/json"}
# Fixture "sum12" returns the sum of its 12 inputs, so every expected forecast is exact.
ROW = [20.0 + index * 0.5 for index in range(12)]


def assert_v2_error(response: testing.Result, status: int, code: str, field: str | None = None) -> dict:
    """Check the agent's one error body plus the V2 ``error`` key, which repeats the description."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json
    assert set(body) - {"field"} == ERROR_KEYS | {"error"}, body
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["description"], str) and len(body["description"]) > 20
    assert body["error"] == body["description"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def tensor(data, shape=(1, 12), datatype="FP32", name="input", **extra) -> dict:
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": data, **extra}


def infer(agent: Agent, body, path: str = INFER) -> testing.Result:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return agent.client.simulate_post(path, body=payload, headers=JSON)


@pytest.fixture
def agent(tmp_path):
    return Agent(tmp_path, {"1": "mean12", "2": "sum12"}, max_batch=5)


def test_server_metadata(agent):
    response = agent.client.simulate_get("/v2")

    assert response.status_code == 200
    assert response.json["name"] == "cps-edge-agent"
    assert isinstance(response.json["version"], str) and response.json["version"]
    assert response.json["extensions"] == []


def test_server_live_and_ready(agent):
    assert agent.client.simulate_get("/v2/health/live").json == {"live": True}
    assert agent.client.simulate_get("/v2/health/ready").json == {"ready": True}


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/2"], ids=["latest", "versioned"])
def test_model_metadata(agent, path):
    response = agent.client.simulate_get(path)

    assert response.status_code == 200, response.text
    assert response.json == {
        "name": MODEL,
        "versions": ["2"],
        "platform": PLATFORM,
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 12]}],
        "outputs": [{"name": "variable", "datatype": "FP32", "shape": [-1, 1]}],
    }


@pytest.mark.parametrize("path", [f"/v2/models/{MODEL}/ready", f"/v2/models/{MODEL}/versions/2/ready"], ids=["latest", "versioned"])
def test_model_ready(agent, path):
    response = agent.client.simulate_get(path)

    assert response.status_code == 200, response.text
    assert response.json == {"name": MODEL, "ready": True}


def test_infer_flat_and_nested_agree(agent):
    rows = [ROW, [21.5] * 12]

    flat = infer(agent, {"inputs": [tensor(rows[0] + rows[1], shape=(2, 12))]})
    nested = infer(agent, {"inputs": [tensor(rows, shape=(2, 12))]})

    assert flat.status_code == 200, flat.text
    assert nested.status_code == 200, nested.text
    output = flat.json["outputs"][0]
    assert output["name"] == "variable"
    assert output["shape"] == [2, 1]
    assert output["datatype"] == "FP32"
    assert output["data"] == pytest.approx([sum(ROW), 21.5 * 12], abs=1e-4)
    assert nested.json["outputs"] == flat.json["outputs"]
    assert flat.json["model_name"] == MODEL
    assert flat.json["model_version"] == "2"


def test_infer_matches_native_predict(agent):
    native = agent.client.simulate_post("/predict", body=json.dumps({"temperature_history": ROW}), headers=JSON)

    v2 = infer(agent, {"inputs": [tensor([ROW])]})

    assert v2.json["outputs"][0]["data"][0] == pytest.approx(native.json["predicted_temperature"], abs=1e-4)


def test_infer_on_versioned_path(agent):
    response = infer(agent, {"inputs": [tensor(ROW)]}, path=f"/v2/models/{MODEL}/versions/2/infer")

    assert response.status_code == 200, response.text
    assert response.json["model_version"] == "2"


def test_infer_echoes_request_id(agent):
    response = infer(agent, {"id": "request-42", "inputs": [tensor(ROW)]})

    assert response.json["id"] == "request-42"


def test_infer_generates_missing_id(agent):
    first = infer(agent, {"inputs": [tensor(ROW)]})
    second = infer(agent, {"inputs": [tensor(ROW)]})

    assert isinstance(first.json["id"], str) and len(first.json["id"]) >= 16
    assert first.json["id"] != second.json["id"]


# (id, datatype, data) that are all cast to the model's FP32 input.
CASTS = [
    ("int32", "INT32", [20 + index for index in range(12)]),
    ("uint8", "UINT8", [20 + index for index in range(12)]),
    ("int64-integral-floats", "INT64", [float(20 + index) for index in range(12)]),
    ("fp64", "FP64", [20.25 + index for index in range(12)]),
    ("fp16", "FP16", [20.5 + index for index in range(12)]),
]


@pytest.mark.parametrize("datatype, data", [case[1:] for case in CASTS], ids=[case[0] for case in CASTS])
def test_infer_casts_datatypes(agent, datatype, data):
    response = infer(agent, {"inputs": [tensor(data, datatype=datatype)]})

    assert response.status_code == 200, response.text
    assert response.json["outputs"][0]["data"] == pytest.approx([sum(data)], abs=1e-3)


def test_infer_accepts_parameters_and_requested_output(agent):
    body = {
        "parameters": {"binary_data_output": False, "priority": 1},
        "inputs": [tensor(ROW, parameters={"content_type": "np"})],
        "outputs": [{"name": "variable", "parameters": {"binary_data": False}}],
    }

    response = infer(agent, body)

    assert response.status_code == 200, response.text
    assert [output["name"] for output in response.json["outputs"]] == ["variable"]


def test_infer_accepts_max_batch_rows(agent):
    response = infer(agent, {"inputs": [tensor([ROW] * 5, shape=(5, 12))]})

    assert response.status_code == 200, response.text
    assert len(response.json["outputs"][0]["data"]) == 5


TWELVE = [21.0] * 12
# (id, body, status, code, field)
BAD_INFER_BODIES = [
    ("not-json", b"{inputs: []}", 400, "invalid_json", None),
    ("empty-body", b"", 400, "empty_body", None),
    ("body-is-list", [1, 2], 422, "body_not_object", None),
    ("unknown-top-field", {"inputs": [tensor(TWELVE)], "model": MODEL}, 422, "unknown_field", "model"),
    ("missing-inputs", {"id": "1"}, 422, "missing_field", "inputs"),
    ("inputs-not-list", {"inputs": tensor(TWELVE)}, 422, "not_a_list", "inputs"),
    ("no-input", {"inputs": []}, 422, "bad_input_count", "inputs"),
    ("two-inputs", {"inputs": [tensor(TWELVE), tensor(TWELVE)]}, 422, "bad_input_count", "inputs"),
    ("id-number", {"id": 42, "inputs": [tensor(TWELVE)]}, 422, "wrong_type", "id"),
    ("parameters-list", {"parameters": [1], "inputs": [tensor(TWELVE)]}, 422, "wrong_type", "parameters"),
    ("parameter-object", {"parameters": {"a": {"b": 1}}, "inputs": [tensor(TWELVE)]}, 422, "wrong_type", "parameters.a"),
    ("input-not-object", {"inputs": [[21.0] * 12]}, 422, "wrong_type", "inputs[0]"),
    ("input-unknown-field", {"inputs": [tensor(TWELVE, contents={})]}, 422, "unknown_field", "inputs[0].contents"),
    ("input-no-data", {"inputs": [{"name": "input", "shape": [1, 12], "datatype": "FP32"}]}, 422, "missing_field", "inputs[0].data"),
    ("input-no-shape", {"inputs": [{"name": "input", "datatype": "FP32", "data": TWELVE}]}, 422, "missing_field", "inputs[0].shape"),
    ("input-name-number", {"inputs": [tensor(TWELVE, name=0)]}, 422, "wrong_type", "inputs[0].name"),
    ("input-name-unknown", {"inputs": [tensor(TWELVE, name="x")]}, 422, "unknown_input", "inputs[0].name"),
    ("datatype-bool", {"inputs": [tensor(TWELVE, datatype="BOOL")]}, 422, "unsupported_datatype", "inputs[0].datatype"),
    ("datatype-bytes", {"inputs": [tensor(TWELVE, datatype="BYTES")]}, 422, "unsupported_datatype", "inputs[0].datatype"),
    ("datatype-lowercase", {"inputs": [tensor(TWELVE, datatype="fp32")]}, 422, "unsupported_datatype", "inputs[0].datatype"),
    ("datatype-number", {"inputs": [tensor(TWELVE, datatype=32)]}, 422, "wrong_type", "inputs[0].datatype"),
    ("shape-one-dimension", {"inputs": [tensor(TWELVE, shape=(12,))]}, 422, "bad_shape", "inputs[0].shape"),
    ("shape-three-dimensions", {"inputs": [tensor(TWELVE, shape=(1, 1, 12))]}, 422, "bad_shape", "inputs[0].shape"),
    ("shape-wrong-lags", {"inputs": [tensor(TWELVE, shape=(2, 6))]}, 422, "bad_shape", "inputs[0].shape"),
    ("shape-negative", {"inputs": [tensor(TWELVE, shape=(-1, 12))]}, 422, "bad_shape", "inputs[0].shape"),
    ("shape-float", {"inputs": [tensor(TWELVE, shape=(1.0, 12))]}, 422, "bad_shape", "inputs[0].shape"),
    ("shape-boolean", {"inputs": [tensor(TWELVE, shape=(True, 12))]}, 422, "bad_shape", "inputs[0].shape"),
    ("shape-not-list", {"inputs": [{**tensor(TWELVE), "shape": "1x12"}]}, 422, "bad_shape", "inputs[0].shape"),
    ("zero-rows", {"inputs": [tensor([], shape=(0, 12))]}, 422, "empty_batch", "inputs[0].shape"),
    ("too-many-rows", {"inputs": [tensor([TWELVE] * 6, shape=(6, 12))]}, 422, "batch_too_large", "inputs[0].shape"),
    ("huge-row-count", {"inputs": [tensor(TWELVE, shape=(10**30, 12))]}, 422, "batch_too_large", "inputs[0].shape"),
    ("data-not-list", {"inputs": [tensor(21.0)]}, 422, "not_a_list", "inputs[0].data"),
    ("data-too-short", {"inputs": [tensor(TWELVE[:11])]}, 422, "shape_data_mismatch", "inputs[0].data"),
    ("data-too-long", {"inputs": [tensor(TWELVE * 2)]}, 422, "shape_data_mismatch", "inputs[0].data"),
    ("data-more-rows", {"inputs": [tensor([TWELVE, TWELVE])]}, 422, "shape_data_mismatch", "inputs[0].data"),
    ("data-short-row", {"inputs": [tensor([TWELVE, TWELVE[:5]], shape=(2, 12))]}, 422, "shape_data_mismatch", "inputs[0].data[1]"),
    ("data-row-number", {"inputs": [tensor([TWELVE, 21.0], shape=(2, 12))]}, 422, "shape_data_mismatch", "inputs[0].data[1]"),
    ("data-too-deep", {"inputs": [tensor([[[21.0]] * 12])]}, 422, "not_a_number", "inputs[0].data[0][0]"),
    ("flat-with-list", {"inputs": [tensor(TWELVE[:11] + [[21.0]])]}, 422, "not_a_number", "inputs[0].data[11]"),
    ("string-value", {"inputs": [tensor(TWELVE[:3] + ["22"] + TWELVE[4:])]}, 422, "not_a_number", "inputs[0].data[3]"),
    ("boolean-value", {"inputs": [tensor([True] + TWELVE[1:])]}, 422, "not_a_number", "inputs[0].data[0]"),
    ("null-value", {"inputs": [tensor([TWELVE[:11] + [None]])]}, 422, "not_a_number", "inputs[0].data[0][11]"),
    ("nan", {"inputs": [tensor([math.nan] + TWELVE[1:])]}, 422, "non_finite_value", "inputs[0].data[0]"),
    ("infinity", {"inputs": [tensor([TWELVE[:5] + [math.inf] + TWELVE[6:]])]}, 422, "non_finite_value", "inputs[0].data[0][5]"),
    ("beyond-float32", {"inputs": [tensor(TWELVE[:11] + [3.5e38], datatype="FP64")]}, 422, "value_out_of_range", "inputs[0].data[11]"),
    ("beyond-fp16", {"inputs": [tensor([70000.0] + TWELVE[1:], datatype="FP16")]}, 422, "value_out_of_range", "inputs[0].data[0]"),
    ("beyond-int8", {"inputs": [tensor([128] + [21] * 11, datatype="INT8")]}, 422, "value_out_of_range", "inputs[0].data[0]"),
    ("negative-uint", {"inputs": [tensor([-1] + [21] * 11, datatype="UINT32")]}, 422, "value_out_of_range", "inputs[0].data[0]"),
    ("fraction-in-int", {"inputs": [tensor([21.5] + [21] * 11, datatype="INT32")]}, 422, "not_an_integer", "inputs[0].data[0]"),
    ("huge-integer", {"inputs": [tensor([10**400] + [21] * 11, datatype="FP64")]}, 422, "value_out_of_range", "inputs[0].data[0]"),
    ("outputs-not-list", {"inputs": [tensor(TWELVE)], "outputs": "variable"}, 422, "not_a_list", "outputs"),
    ("output-not-object", {"inputs": [tensor(TWELVE)], "outputs": ["variable"]}, 422, "wrong_type", "outputs[0]"),
    ("output-no-name", {"inputs": [tensor(TWELVE)], "outputs": [{}]}, 422, "missing_field", "outputs[0].name"),
    ("output-unknown", {"inputs": [tensor(TWELVE)], "outputs": [{"name": "probabilities"}]}, 422, "unknown_output", "outputs[0].name"),
    ("prediction-overflows", {"inputs": [tensor([3.0e38] * 12)]}, 422, "prediction_not_finite", "inputs[0]"),
]


@pytest.mark.parametrize(
    "body, status, code, field",
    [case[1:] for case in BAD_INFER_BODIES],
    ids=[case[0] for case in BAD_INFER_BODIES],
)
def test_bad_infer_body(agent, body, status, code, field):
    response = infer(agent, body)

    assert_v2_error(response, status, code, field)


def test_infer_needs_json_content_type(agent):
    response = agent.client.simulate_post(INFER, body=json.dumps({"inputs": [tensor(ROW)]}))

    assert_v2_error(response, 415, "unsupported_media_type")


def test_infer_body_over_limit(tmp_path):
    agent = Agent(tmp_path, {"1": "sum12"}, max_body_bytes=1024)

    response = infer(agent, {"inputs": [tensor([ROW] * 20, shape=(20, 12))]})

    assert_v2_error(response, 413, "body_too_large")


def test_invalid_json_shows_v2_example(agent):
    body = assert_v2_error(infer(agent, b'{"inputs": ['), 400, "invalid_json")

    assert '"inputs"' in body["description"]
    assert "temperature_history" not in body["description"]


def test_bad_value_quoted_in_error(agent):
    body = assert_v2_error(infer(agent, {"inputs": [tensor(TWELVE[:3] + ["warm"] + TWELVE[4:])]}), 422, "not_a_number")

    assert '"warm"' in body["error"]


# (id, method, path)
UNKNOWN_MODEL_PATHS = [
    ("metadata", "GET", "/v2/models/other"),
    ("metadata-versioned", "GET", "/v2/models/other/versions/2"),
    ("ready", "GET", "/v2/models/other/ready"),
    ("infer", "POST", "/v2/models/other/infer"),
    ("infer-versioned", "POST", "/v2/models/other/versions/2/infer"),
]


@pytest.mark.parametrize("method, path", [case[1:] for case in UNKNOWN_MODEL_PATHS], ids=[case[0] for case in UNKNOWN_MODEL_PATHS])
def test_unknown_model_is_404(agent, method, path):
    response = agent.client.simulate_request(method, path, body=json.dumps({"inputs": [tensor(ROW)]}), headers=JSON)

    body = assert_v2_error(response, 404, "model_not_found")
    assert f"/v2/models/{MODEL}" in body["description"]


def test_kept_inactive_version_is_404(agent):
    response = infer(agent, {"inputs": [tensor(ROW)]}, path=f"/v2/models/{MODEL}/versions/1/infer")

    body = assert_v2_error(response, 404, "model_version_not_found")
    assert "kept on this device but not active" in body["description"]
    assert "rollback" in body["description"]


def test_unknown_version_is_404(agent):
    body = assert_v2_error(agent.client.simulate_get(f"/v2/models/{MODEL}/versions/9/ready"), 404, "model_version_not_found")

    assert "is not on this device" in body["description"]


def test_version_follows_rollback(agent):
    rollback = agent.client.simulate_post("/model/rollback")
    assert rollback.status_code == 200, rollback.text

    metadata = agent.client.simulate_get(f"/v2/models/{MODEL}")
    response = infer(agent, {"inputs": [tensor(ROW)]}, path=f"/v2/models/{MODEL}/versions/1/infer")

    assert metadata.json["versions"] == ["1"]
    assert response.status_code == 200, response.text
    assert response.json["outputs"][0]["data"] == pytest.approx([sum(ROW) / 12], abs=1e-4)


# (id, method, path)
NO_MODEL_PATHS = [
    ("server-ready", "GET", "/v2/health/ready"),
    ("metadata", "GET", f"/v2/models/{MODEL}"),
    ("ready", "GET", f"/v2/models/{MODEL}/ready"),
    ("infer", "POST", INFER),
]


@pytest.mark.parametrize("method, path", [case[1:] for case in NO_MODEL_PATHS], ids=[case[0] for case in NO_MODEL_PATHS])
def test_no_model_is_503(tmp_path, method, path):
    agent = Agent(tmp_path)

    response = agent.client.simulate_request(method, path, body=json.dumps({"inputs": [tensor(ROW)]}), headers=JSON)

    assert_v2_error(response, 503, "no_model_loaded")


def test_live_without_model(tmp_path):
    agent = Agent(tmp_path)

    assert agent.client.simulate_get("/v2/health/live").json == {"live": True}
    assert_v2_error(agent.client.simulate_get("/v2/models/other"), 404, "model_not_found")


# (id, method, path, status, code)
FALCON_ERRORS = [
    ("unknown-v2-path", "GET", "/v2/repository/index", 404, "not_found"),
    ("infer-get", "GET", INFER, 405, "method_not_allowed"),
    ("metadata-post", "POST", f"/v2/models/{MODEL}", 405, "method_not_allowed"),
    ("live-delete", "DELETE", "/v2/health/live", 405, "method_not_allowed"),
]


@pytest.mark.parametrize("method, path, status, code", [case[1:] for case in FALCON_ERRORS], ids=[case[0] for case in FALCON_ERRORS])
def test_falcon_errors_carry_v2_key(agent, method, path, status, code):
    assert_v2_error(agent.client.simulate_request(method, path), status, code)


def test_native_errors_have_no_v2_key(agent):
    response = agent.client.simulate_get("/v2x")

    assert response.status_code == 404
    assert "error" not in response.json


def test_unexpected_error_carries_v2_key(agent):
    class Broken:
        def on_get(self, req, resp):
            raise RuntimeError("secret internal detail")

    agent.client.app.add_route("/v2/broken", Broken())

    body = assert_v2_error(agent.client.simulate_get("/v2/broken"), 500, "internal_error")
    assert "secret internal detail" not in body["error"]


class WaitressServer:
    """The app under waitress on a free loopback port, in a thread of this process."""

    def __init__(self, app) -> None:
        self.server = waitress.create_server(app, host=LOOPBACK, port=0, threads=2)
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=JSON)
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=10)


def test_infer_over_http(agent):
    server = WaitressServer(agent.client.app)
    try:
        status, metadata = server.request("GET", f"/v2/models/{MODEL}")
        input_spec = metadata["inputs"][0]
        rows = [ROW, [19.0] * 12]
        request = {"id": "over-http", "inputs": [{**input_spec, "shape": [2, 12], "data": rows}]}
        infer_status, result = server.request("POST", INFER, json.dumps(request).encode())
        error_status, error = server.request("POST", INFER, b'{"inputs": []}')
    finally:
        server.close()

    assert status == 200
    assert infer_status == 200, result
    assert result["id"] == "over-http"
    assert result["outputs"][0]["data"] == pytest.approx([sum(ROW), 19.0 * 12], abs=1e-4)
    assert error_status == 422
    assert error["code"] == "bad_input_count"
    assert error["error"] == error["description"]


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-60, max_value=60),
    st.integers(min_value=-(10**40), max_value=10**40),
)
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=6), numbers)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
datatypes = st.one_of(st.sampled_from(["FP32", "FP64", "FP16", "INT8", "INT64", "UINT16", "BOOL", "BYTES"]), scalars)
shapes = st.one_of(
    st.lists(st.integers(min_value=-2, max_value=14), max_size=3),
    st.just([1, 12]),
    st.just([2, 12]),
    values,
)
rows = st.lists(st.one_of(numbers, scalars), min_size=0, max_size=14)
tensor_data = st.one_of(rows, st.lists(rows, max_size=3), st.lists(st.floats(min_value=-60, max_value=60), min_size=12, max_size=12), values)
# Well-formed tensors of 1 to 3 rows, so that the forecast path runs too, with values up to float32 overflow.
well_formed_tensors = st.integers(min_value=1, max_value=3).flatmap(
    lambda row_count: st.fixed_dictionaries({
        "name": st.just("input"),
        "shape": st.just([row_count, 12]),
        "datatype": st.sampled_from(["FP32", "FP64"]),
        "data": st.lists(numbers, min_size=12 * row_count, max_size=12 * row_count),
    })
)
input_tensors = st.one_of(
    well_formed_tensors,
    st.fixed_dictionaries(
        {"name": st.one_of(st.just("input"), scalars), "shape": shapes, "datatype": datatypes, "data": tensor_data},
        optional={"parameters": values},
    ),
    values,
)
infer_bodies = st.one_of(
    st.fixed_dictionaries(
        {"inputs": st.lists(input_tensors, max_size=2)},
        optional={"id": scalars, "parameters": values, "outputs": values},
    ),
    st.dictionaries(st.sampled_from(["inputs", "id", "outputs", "other"]), values, max_size=3),
    values,
)


def reject_constant(name: str):
    raise AssertionError(f"response contains the JSON literal {name}, which standard JSON does not allow")


def test_infer_never_fails_with_500(tmp_path_factory):
    agent = Agent(tmp_path_factory.mktemp("agent"), {"1": "sum12"})
    statuses = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=infer_bodies)
    def check(body):
        response = agent.client.simulate_post(INFER, body=json.dumps(body).encode(), headers=JSON)
        statuses.append(response.status_code)

        assert response.status_code < 500, response.text
        parsed = json.loads(response.text, parse_constant=reject_constant)
        if response.status_code >= 400:
            assert set(parsed) - {"field"} == ERROR_KEYS | {"error"}
            assert parsed["error"] == parsed["description"]
        else:
            data = parsed["outputs"][0]["data"]
            assert all(isinstance(value, float) and math.isfinite(value) for value in data)
            assert len(data) == body["inputs"][0]["shape"][0]

    check()
    assert 200 in statuses, "no generated request reached the model"
