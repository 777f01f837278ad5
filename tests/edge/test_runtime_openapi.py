"""GET /openapi.json: complete (every route and error code), well formed, and true to real responses.

openapi-spec-validator and jsonschema are not dependencies of the agent, so the structure is
checked here: every route the app registers is documented and nothing else, every ``$ref``
resolves, path parameters are declared, and a small JSON Schema checker (the keywords the
document uses) validates real responses of the app against the documented schemas.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from edge_agent.runtime import exceptions
from edge_agent.runtime.errors import _FALCON_CODES
from edge_agent.runtime.openapi import ERROR_CODES, OPERATIONS

from runtime_helpers import Agent, BufferedSensor

RUNTIME = Path(__file__).resolve().parents[2] / "edge-agent" / "runtime"
JSON = {"Content-Type": "application/json"}
MODEL = "temperature-forecaster"
TWELVE = [20.0 + index * 0.5 for index in range(12)]


@pytest.fixture
def agent(tmp_path):
    sensor = BufferedSensor()
    sensor.add(TWELVE)
    return Agent(tmp_path, {"1": "mean12", "2": "sum12"}, sensor=sensor)


@pytest.fixture
def document(agent):
    response = agent.client.simulate_get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return json.loads(response.text, parse_constant=reject_constant)


def reject_constant(name: str):
    raise AssertionError(f"document contains the JSON literal {name}, which standard JSON does not allow")


def registered_operations(app) -> set[tuple[str, str]]:
    """Walk Falcon's router and return (method, URI template) for every responder a resource defines.

    ``_router._roots`` is private to Falcon (checked with 4.4). Falcon fills the method map with its own responders for methods a resource lacks (405 and
    OPTIONS); only responders bound to the resource count.
    """
    found = set()
    nodes = list(app._router._roots)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children)
        if node.resource is None:
            continue
        for method, responder in node.method_map.items():
            if getattr(responder, "__self__", None) is node.resource:
                found.add((method, node.uri_template))
    return found


def raised_codes() -> set[str]:
    source = "".join(path.read_text() for path in RUNTIME.glob("*.py"))
    codes = set(re.findall(r'ApiError\(\s*\d{3},\s*"([a-z_]+)"', source))
    codes |= {cls.code for cls in vars(exceptions).values() if isinstance(cls, type) and hasattr(cls, "code")}
    return codes | set(_FALCON_CODES.values())


def test_openapi_version_and_info(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"]
    assert document["info"]["version"]


def test_documents_every_registered_route(agent, document):
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}

    registered = registered_operations(agent.client.app)

    assert registered - documented == set(), "registered but not documented"
    assert documented - registered == set(), "documented but not registered"
    assert ("POST", "/v2/models/{model_name}/versions/{model_version}/infer") in registered


def test_lists_every_raised_error_code(document):
    enum = set(document["components"]["schemas"]["Error"]["properties"]["code"]["enum"])

    missing = sorted(raised_codes() - enum)

    assert missing == []
    assert set(ERROR_CODES) == enum


def test_no_stale_error_codes():
    stale = sorted(set(ERROR_CODES) - raised_codes())

    assert stale == []


def test_error_responses_name_their_codes(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "internal_error" in operation["responses"]["500"]["x-error-codes"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                for code in response["x-error-codes"]:
                    assert int(status) in ERROR_CODES[code][0], (method, path, code)
                    assert f"`{code}`" in response["description"]
                expected = "V2Error" if path.startswith("/v2") else "Error"
                assert response["content"]["application/json"]["schema"]["$ref"].endswith("/" + expected)


def test_operation_ids_unique(document):
    ids = [operation["operationId"] for item in document["paths"].values() for operation in item.values()]

    assert len(ids) == len(set(ids)) == len(OPERATIONS)


def test_path_parameters_declared(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")


def test_every_ref_resolves(document):
    refs = []

    def collect(value):
        if isinstance(value, dict):
            if "$ref" in value:
                refs.append(value["$ref"])
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(document)

    assert refs
    for ref in refs:
        assert resolve(document, ref) is not None, ref


def test_limits_come_from_config(tmp_path):
    agent = Agent(tmp_path, {"1": "sum12"}, max_history=50, max_batch=7)

    schemas = agent.client.simulate_get("/openapi.json").json["components"]["schemas"]

    assert schemas["PredictRequest"]["properties"]["temperature_history"]["maxItems"] == 50
    assert schemas["BatchPredictRequest"]["properties"]["histories"]["maxItems"] == 7


def test_openapi_without_model(tmp_path):
    response = Agent(tmp_path).client.simulate_get("/openapi.json")

    assert response.status_code == 200
    assert response.json["openapi"] == "3.1.0"


def resolve(document: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def schema_errors(document: dict, schema: dict, value: Any, where: str = "$") -> list[str]:
    """Check ``value`` against the JSON Schema keywords the document uses; return what does not match."""
    if "$ref" in schema:
        return schema_errors(document, resolve(document, schema["$ref"]), value, where)
    errors: list[str] = []
    if "oneOf" in schema:
        matches = sum(not schema_errors(document, option, value, where) for option in schema["oneOf"])
        if matches != 1:
            errors.append(f"{where}: {value!r} matches {matches} of the oneOf options")
    if "type" in schema and not any(is_type(value, kind) for kind in as_list(schema["type"])):
        return errors + [f"{where}: {value!r} is not of type {schema['type']}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{where}: {len(value)} items outside the documented bounds")
        for index, item in enumerate(value):
            if "items" in schema:
                errors += schema_errors(document, schema["items"], item, f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}: required property {name!r} is missing")
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(document, properties[name], item, f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: property {name!r} is not documented")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(document, schema["additionalProperties"], item, f"{where}.{name}")
    return errors


def as_list(kind: str | list[str]) -> list[str]:
    return kind if isinstance(kind, list) else [kind]


def is_type(value: Any, kind: str) -> bool:
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    }
    return checks[kind](value)


def test_schema_checker_rejects_mismatches(document):
    schema = {"$ref": "#/components/schemas/V2InferenceResponse"}

    errors = schema_errors(document, schema, {"model_name": 5, "outputs": [{"name": "variable", "extra": 1}]})

    assert any("is not of type" in error for error in errors)
    assert any("'model_version' is missing" in error for error in errors)
    assert any("'extra' is not documented" in error for error in errors)


def v2_request(rows: list[list[float]]) -> dict:
    return {"inputs": [{"name": "input", "shape": [len(rows), 12], "datatype": "FP32", "data": rows}]}


# (id, method, path, JSON body or None, status); each response is checked against its documented schema.
REAL_REQUESTS = [
    ("health", "GET", "/health", None, 200),
    ("live", "GET", "/health/live", None, 200),
    ("ready", "GET", "/health/ready", None, 200),
    ("predict", "POST", "/predict", {"temperature_history": TWELVE[:5]}, 200),
    ("batch", "POST", "/predict/batch", {"histories": [TWELVE, TWELVE[:3]]}, 200),
    ("predict-live", "GET", "/predict/live", None, 200),
    ("readings", "GET", "/readings", None, 200),
    ("model", "GET", "/model", None, 200),
    ("rollback", "POST", "/model/rollback", None, 200),
    ("v2-server", "GET", "/v2", None, 200),
    ("v2-live", "GET", "/v2/health/live", None, 200),
    ("v2-ready", "GET", "/v2/health/ready", None, 200),
    ("v2-metadata", "GET", f"/v2/models/{MODEL}", None, 200),
    ("v2-model-ready", "GET", f"/v2/models/{MODEL}/versions/2/ready", None, 200),
    ("v2-infer", "POST", f"/v2/models/{MODEL}/infer", v2_request([TWELVE, TWELVE]), 200),
    ("predict-error", "POST", "/predict", {"temperature_history": [1, "x"]}, 422),
    ("reload-error", "POST", "/model/reload", None, 503),
    ("v2-infer-error", "POST", f"/v2/models/{MODEL}/infer", {"inputs": []}, 422),
    ("v2-unknown-model", "GET", "/v2/models/other", None, 404),
]


@pytest.mark.parametrize(
    "method, path, body, status", [case[1:] for case in REAL_REQUESTS], ids=[case[0] for case in REAL_REQUESTS]
)
def test_response_matches_schema(agent, document, method, path, body, status):
    template = next(
        template
        for template in document["paths"]
        if re.fullmatch(re.sub(r"{\w+}", "[^/]+", template), path)
    )
    operation = document["paths"][template][method.lower()]
    payload = json.dumps(body) if body is not None else None

    response = agent.client.simulate_request(method, path, body=payload, headers=JSON)

    assert response.status_code == status, response.text
    documented = operation["responses"][str(status)]
    schema = documented["content"]["application/json"]["schema"]
    assert schema_errors(document, schema, response.json) == []
    if status >= 400:
        assert response.json["code"] in documented["x-error-codes"]


def test_request_examples_are_accepted(agent, document):
    sent = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation or "{model_version}" in path:
                continue
            schema = resolve(document, operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
            concrete = path.replace("{model_name}", MODEL)
            for example in schema["examples"]:
                assert schema_errors(document, schema, example) == []
                response = agent.client.simulate_request(method.upper(), concrete, body=json.dumps(example), headers=JSON)
                assert response.status_code == 200, (path, response.text)
                sent += 1

    assert sent == 3


def test_metrics_documented_as_text(agent, document):
    content = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    response = agent.client.simulate_get("/metrics")

    media = next(iter(content))
    assert response.headers["content-type"].startswith(media)
