"""The one error body, checked on every endpoint and for every kind of bad input."""

from __future__ import annotations

import json
import logging

import falcon
import pytest

from runtime_helpers import Agent, BufferedSensor, assert_error

JSON = {"Content-Type": "application/json"}
TWELVE = [21.0] * 12

# (id, raw body, headers, status, code, field)
BAD_PREDICT_BODIES = [
    ("not-json", b"{temperature_history: [1]}", JSON, 400, "invalid_json", None),
    ("truncated-json", b'{"temperature_history": [1, 2', JSON, 400, "invalid_json", None),
    ("invalid-utf8", b'{"temperature_history": [1]}\xff', JSON, 400, "invalid_json", None),
    ("deep-nesting", b"[" * 50_000, JSON, 400, "invalid_json", None),
    ("empty-body", b"", JSON, 400, "empty_body", None),
    ("no-content-type", b'{"temperature_history": [1]}', {}, 415, "unsupported_media_type", None),
    ("text-content-type", b'{"temperature_history": [1]}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type", None),
    ("body-is-list", b"[1, 2, 3]", JSON, 422, "body_not_object", None),
    ("body-is-string", b'"22.5"', JSON, 422, "body_not_object", None),
    ("body-is-null", b"null", JSON, 422, "body_not_object", None),
    ("missing-field", b"{}", JSON, 422, "missing_field", "temperature_history"),
    ("misspelled-field", b'{"temperatures": [1]}', JSON, 422, "unknown_field", "temperatures"),
    ("history-not-list", b'{"temperature_history": 22.5}', JSON, 422, "not_a_list", "temperature_history"),
    ("history-is-object", b'{"temperature_history": {"a": 1}}', JSON, 422, "not_a_list", "temperature_history"),
    ("history-empty", b'{"temperature_history": []}', JSON, 422, "empty_history", "temperature_history"),
    ("string-value", b'{"temperature_history": [21.0, "22.5"]}', JSON, 422, "not_a_number", "temperature_history[1]"),
    ("boolean-value", b'{"temperature_history": [true]}', JSON, 422, "not_a_number", "temperature_history[0]"),
    ("null-value", b'{"temperature_history": [21.0, 21.0, null]}', JSON, 422, "not_a_number", "temperature_history[2]"),
    ("nested-list", b'{"temperature_history": [[21.0]]}', JSON, 422, "not_a_number", "temperature_history[0]"),
    ("nan-literal", b'{"temperature_history": [21.0, NaN]}', JSON, 422, "non_finite_value", "temperature_history[1]"),
    ("infinity-literal", b'{"temperature_history": [Infinity]}', JSON, 422, "non_finite_value", "temperature_history[0]"),
    ("minus-infinity", b'{"temperature_history": [1, 2, 3, -Infinity]}', JSON, 422, "non_finite_value", "temperature_history[3]"),
    ("overflowing-float", b'{"temperature_history": [1e999]}', JSON, 422, "non_finite_value", "temperature_history[0]"),
    ("beyond-float32", b'{"temperature_history": [21.0, 3.5e38]}', JSON, 422, "value_out_of_range", "temperature_history[1]"),
    ("huge-integer", b'{"temperature_history": [' + b"9" * 400 + b"]}", JSON, 422, "value_out_of_range", "temperature_history[0]"),
    ("too-many-values", json.dumps({"temperature_history": [21.0] * 1001}).encode(), JSON, 422, "history_too_long", "temperature_history"),
    ("pad-not-boolean", b'{"temperature_history": [21.0], "pad": "no"}', JSON, 422, "not_a_boolean", "pad"),
    ("body-over-limit", json.dumps({"temperature_history": [21.123456789] * 20000}).encode(), JSON, 413, "body_too_large", None),
]


@pytest.mark.parametrize(
    "body, headers, status, code, field",
    [case[1:] for case in BAD_PREDICT_BODIES],
    ids=[case[0] for case in BAD_PREDICT_BODIES],
)
def test_bad_predict_body(tmp_path, body, headers, status, code, field):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = agent.client.simulate_post("/predict", body=body, headers=headers)

    assert_error(response, status, code, field)


def test_bad_value_quoted_in_description(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = agent.client.simulate_post("/predict", body=b'{"temperature_history": [21.0, "warm"]}', headers=JSON)

    assert '"warm"' in response.json["description"]


# (id, method, path, query, status, code, field)
BAD_REQUESTS = [
    ("unknown-path", "GET", "/nothing-here", None, 404, "not_found", None),
    ("unknown-nested-path", "POST", "/model/reload/now", None, 404, "not_found", None),
    ("predict-get", "GET", "/predict", None, 405, "method_not_allowed", None),
    ("health-post", "POST", "/health", None, 405, "method_not_allowed", None),
    ("health-delete", "DELETE", "/health", None, 405, "method_not_allowed", None),
    ("live-post", "POST", "/predict/live", None, 405, "method_not_allowed", None),
    ("model-put", "PUT", "/model", None, 405, "method_not_allowed", None),
    ("reload-get", "GET", "/model/reload", None, 405, "method_not_allowed", None),
    ("rollback-get", "GET", "/model/rollback", None, 405, "method_not_allowed", None),
    ("readings-post", "POST", "/readings", None, 405, "method_not_allowed", None),
    ("limit-zero", "GET", "/readings", "limit=0", 422, "bad_limit", "limit"),
    ("limit-negative", "GET", "/readings", "limit=-5", 422, "bad_limit", "limit"),
    ("limit-text", "GET", "/readings", "limit=ten", 422, "bad_limit", "limit"),
    ("limit-float", "GET", "/readings", "limit=2.5", 422, "bad_limit", "limit"),
    ("limit-huge", "GET", "/readings", "limit=99999999999999999999", 422, "bad_limit", "limit"),
    ("force-not-boolean", "POST", "/model/reload", "force=maybe", 422, "not_a_boolean", "force"),
    ("reload-no-registry", "POST", "/model/reload", None, 503, "registry_not_configured", None),
    ("rollback-nothing-kept", "POST", "/model/rollback", None, 409, "no_rollback_target", None),
]


@pytest.mark.parametrize(
    "method, path, query, status, code, field",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request(tmp_path, method, path, query, status, code, field):
    sensor = BufferedSensor()
    agent = Agent(tmp_path, {"1": "mean12"}, sensor=sensor)

    response = agent.client.simulate_request(method, path, query_string=query)

    assert_error(response, status, code, field)


def test_405_lists_allowed_methods(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = agent.client.simulate_get("/predict")

    assert "POST" in response.headers["allow"]


def test_error_body_ignores_accept_header(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    response = agent.client.simulate_get("/nothing", headers={"Accept": "text/html"})

    assert_error(response, 404, "not_found")


# (id, endpoint, query, token header, status, code)
AUTH_CASES = [
    ("reload-no-header", "/model/reload", None, None, 401, "missing_token"),
    ("reload-basic-scheme", "/model/reload", None, "Basic c2VjcmV0", 401, "missing_token"),
    ("reload-wrong-token", "/model/reload", None, "Bearer wrong", 403, "invalid_token"),
    ("rollback-no-header", "/model/rollback", None, None, 401, "missing_token"),
    ("rollback-wrong-token", "/model/rollback", None, "Bearer s3cret-but-not", 403, "invalid_token"),
]


@pytest.mark.parametrize(
    "path, query, authorization, status, code",
    [case[1:] for case in AUTH_CASES],
    ids=[case[0] for case in AUTH_CASES],
)
def test_state_change_needs_token(tmp_path, path, query, authorization, status, code):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12"}, token="s3cret")
    headers = {"Authorization": authorization} if authorization else {}

    response = agent.client.simulate_post(path, headers=headers, query_string=query)

    assert_error(response, status, code)
    assert agent.holder.get().version == "2"


def test_missing_token_names_scheme(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"}, token="s3cret")

    response = agent.client.simulate_post("/model/reload")

    assert response.headers["www-authenticate"] == "Bearer"


def test_right_token_allows_rollback(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12", "2": "recent12"}, token="s3cret")

    response = agent.client.simulate_post("/model/rollback", headers={"Authorization": "Bearer s3cret"})

    assert response.status_code == 200, response.text
    assert response.json["version"] == "1"


def test_read_endpoints_need_no_token(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"}, token="s3cret")

    assert agent.client.simulate_get("/health").status_code == 200
    assert agent.client.simulate_get("/model").status_code == 200
    response = agent.client.simulate_post("/predict", body=json.dumps({"temperature_history": TWELVE}), headers=JSON)
    assert response.status_code == 200


def test_unexpected_exception_is_generic_500(tmp_path, caplog):
    agent = Agent(tmp_path, {"1": "mean12"})

    class Broken:
        def on_get(self, req, resp):
            raise RuntimeError("secret internal detail")

    app = agent.client.app
    app.add_route("/broken", Broken())
    with caplog.at_level(logging.ERROR, logger="edge_agent.runtime.errors"):
        response = agent.client.simulate_get("/broken")

    body = assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "RuntimeError: secret internal detail" in caplog.text
    assert "log" in body["description"]


def test_nan_in_response_is_never_sent(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    class NotFinite:
        def on_get(self, req, resp):
            resp.media = {"value": float("nan")}

    agent.client.app.add_route("/nan", NotFinite())
    response = agent.client.simulate_get("/nan")

    assert_error(response, 500, "internal_error")
    assert "NaN" not in response.text


def test_falcon_http_error_uses_shape(tmp_path):
    agent = Agent(tmp_path, {"1": "mean12"})

    class Teapot:
        def on_get(self, req, resp):
            raise falcon.HTTPBadRequest(title="Bad", description="plain falcon error raised by a responder")

    agent.client.app.add_route("/teapot", Teapot())

    assert_error(agent.client.simulate_get("/teapot"), 400, "bad_request")
