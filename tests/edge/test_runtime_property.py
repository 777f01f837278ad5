"""Property tests: no request body to POST /predict or /predict/batch produces a 500 or a non-finite number."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_helpers import ERROR_KEYS, Agent

JSON_HEADERS = {"Content-Type": "application/json"}

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-60, max_value=60),
    st.integers(min_value=-(10**40), max_value=10**40),
)
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=8), numbers)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=8)
histories = st.lists(st.one_of(numbers, scalars), min_size=0, max_size=30)
bodies = st.one_of(
    st.fixed_dictionaries({"temperature_history": histories}, optional={"pad": st.one_of(st.booleans(), scalars)}),
    st.dictionaries(st.sampled_from(["temperature_history", "pad", "other"]), values, max_size=3),
    values,
)


def encode(body) -> bytes:
    # json.dumps writes NaN and Infinity literals, which the agent must reject by index.
    return json.dumps(body).encode()


def reject_constant(name: str):
    raise AssertionError(f"response contains the JSON literal {name}, which standard JSON does not allow")


def contains_non_finite(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(contains_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_non_finite(item) for item in value)
    return False


def test_predict_never_fails_with_500(tmp_path_factory):
    agent = Agent(tmp_path_factory.mktemp("agent"), {"1": "sum12"})

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=bodies, raw=st.booleans(), junk=st.binary(max_size=40))
    def check(body, raw, junk):
        payload = junk if raw else encode(body)
        response = agent.client.simulate_post("/predict", body=payload, headers=JSON_HEADERS)

        assert response.status_code < 500, response.text
        parsed = json.loads(response.text, parse_constant=reject_constant)
        assert not contains_non_finite(parsed)
        if response.status_code >= 400:
            assert set(parsed) - {"field"} == ERROR_KEYS
        else:
            assert math.isfinite(parsed["predicted_temperature"])

    check()


batch_bodies = st.one_of(
    st.fixed_dictionaries({"histories": st.lists(histories, max_size=5)}, optional={"pad": st.one_of(st.booleans(), scalars)}),
    st.fixed_dictionaries({"histories": values}),
    st.dictionaries(st.sampled_from(["histories", "pad", "other"]), values, max_size=3),
)


def test_batch_never_fails_with_500(tmp_path_factory):
    agent = Agent(tmp_path_factory.mktemp("agent"), {"1": "sum12"})

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=batch_bodies)
    def check(body):
        response = agent.client.simulate_post("/predict/batch", body=encode(body), headers=JSON_HEADERS)

        assert response.status_code < 500, response.text
        parsed = json.loads(response.text, parse_constant=reject_constant)
        assert not contains_non_finite(parsed)
        if response.status_code >= 400:
            assert set(parsed) - {"field"} == ERROR_KEYS
        else:
            assert len(parsed["predicted_temperatures"]) == len(body["histories"])

    check()
