"""LineParser: every line format, unit conversion, and each counted reason for dropping a line."""

from __future__ import annotations

import pytest

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # the agent image may ship without hypothesis; only the property test needs it
    given = None

from edge_agent.sensor_io.parsing import DROP_REASONS, LINE_FORMATS, LineParser


@pytest.mark.parametrize(
    ("line_format", "field", "line", "expected"),
    [
        pytest.param("plain", None, b"21.5", 21.5, id="plain"),
        pytest.param("plain", None, b"  -3 ", -3.0, id="plain-padded-integer"),
        pytest.param("kv", None, b"temp=21.5 hum=40", 21.5, id="kv-spaces"),
        pytest.param("kv", None, b"hum=40,temp=21.5", 21.5, id="kv-commas"),
        pytest.param("kv", None, b"hum=40, temp = 21.5", 21.5, id="kv-comma-space"),
        pytest.param("kv", "t", b"t=19.0\ttemp=99", 19.0, id="kv-custom-field"),
        pytest.param("json", None, b'{"temp": 21.5, "hum": 40}', 21.5, id="json"),
        pytest.param("json", None, b'{"temp": "21.5"}', 21.5, id="json-numeric-string"),
        pytest.param("json", "t", b'{"t": 19}', 19.0, id="json-custom-field"),
    ],
)
def test_parser_reads_value(line_format, field, line, expected):
    parser = LineParser(line_format, field)
    assert parser.parse(line) == pytest.approx(expected)
    assert sum(parser.drops.values()) == 0


def test_csv_uses_header_columns():
    parser = LineParser("csv", "temp")
    assert parser.parse(b"seq,ts,temp") is None
    assert parser.parse(b"1,1262304000,21.5") == 21.5
    assert parser.parse(b"2, 1262307600 , 22.0 ") == 22.0
    assert sum(parser.drops.values()) == 0


def test_csv_header_repeated_in_other_order():
    parser = LineParser("csv")
    parser.parse(b"temp,hum")
    assert parser.parse(b"21.5,40") == 21.5
    parser.parse(b"hum,temp")
    assert parser.parse(b"40,22.5") == 22.5


def test_csv_row_before_header_dropped():
    parser = LineParser("csv")
    assert parser.parse(b"1,21.5") is None
    assert parser.drops == {"no_header": 1}


def test_csv_columns_given_up_front():
    parser = LineParser("csv", csv_columns=["ts", "temp"])
    assert parser.parse(b"1262304000,21.5") == 21.5


def test_csv_columns_without_field_rejected():
    with pytest.raises(ValueError, match="no column 'temp'"):
        LineParser("csv", csv_columns=["ts", "value"])


def test_fahrenheit_converted():
    parser = LineParser("plain", unit="F")
    assert parser.parse(b"212") is None  # 100 °C is outside the default range
    assert parser.parse(b"50") == pytest.approx(10.0)
    assert parser.parse(b"-40") == pytest.approx(-40.0)


def test_range_checked_after_conversion():
    parser = LineParser("plain", unit="F", plausible_range=(0.0, 100.0))
    assert parser.parse(b"212") == pytest.approx(100.0)
    assert parser.parse(b"213") is None
    assert parser.drops == {"out_of_range": 1}


@pytest.mark.parametrize(
    ("line_format", "line", "reason"),
    [
        pytest.param("plain", b"21\x00.5", "noise", id="nul-byte"),
        pytest.param("plain", b"\xff\xff21.5", "noise", id="ff-bytes"),
        pytest.param("plain", b"21.5\x1b", "noise", id="escape-byte"),
        pytest.param("plain", b"21.5\xe9", "not_utf8", id="latin1-byte"),
        pytest.param("plain", b"\xc3\x28", "not_utf8", id="broken-utf8-sequence"),
        pytest.param("plain", b"nan", "not_finite", id="nan"),
        pytest.param("plain", b"-inf", "not_finite", id="negative-infinity"),
        pytest.param("plain", b"1e400", "not_finite", id="overflow-to-infinity"),
        pytest.param("plain", b"ERR", "not_a_number", id="text"),
        pytest.param("plain", b"21.5 C", "not_a_number", id="unit-suffix"),
        pytest.param("plain", b"60.01", "out_of_range", id="above-maximum"),
        pytest.param("plain", b"-50.5", "out_of_range", id="below-minimum"),
        pytest.param("kv", b"hum=40 pressure=1000", "missing_field", id="kv-without-field"),
        pytest.param("kv", b"21.5", "malformed", id="kv-without-pairs"),
        pytest.param("kv", b"temp=", "not_a_number", id="kv-empty-value"),
        pytest.param("json", b'{"temp": 21.5', "malformed", id="json-truncated"),
        pytest.param("json", b"[21.5]", "malformed", id="json-not-object"),
        pytest.param("json", b'{"hum": 40}', "missing_field", id="json-without-field"),
        pytest.param("json", b'{"temp": true}', "not_a_number", id="json-boolean"),
        pytest.param("json", b'{"temp": null}', "not_a_number", id="json-null"),
        pytest.param("json", b'{"temp": NaN}', "not_finite", id="json-nan"),
        pytest.param("json", b'{"temp": 1e999}', "not_finite", id="json-infinity"),
    ],
)
def test_bad_line_counted_not_raised(line_format, line, reason):
    parser = LineParser(line_format)
    assert parser.parse(line) is None
    assert parser.drops == {reason: 1}


def test_csv_wrong_cell_count_malformed():
    parser = LineParser("csv", csv_columns=["ts", "temp"])
    assert parser.parse(b"1,2,21.5") is None
    assert parser.drops == {"malformed": 1}


def test_drops_accumulate_by_reason():
    parser = LineParser()
    for line in (b"nan", b"inf", b"99", b"x", b"20.0"):
        parser.parse(line)
    assert parser.drops == {"not_finite": 2, "out_of_range": 1, "not_a_number": 1}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"line_format": "xml"}, "not supported", id="unknown-format"),
        pytest.param({"unit": "K"}, "use C or F", id="unknown-unit"),
        pytest.param({"plausible_range": (10.0, 10.0)}, "minimum < maximum", id="empty-range"),
        pytest.param({"field": "temp"}, "has no fields", id="field-with-plain"),
    ],
)
def test_invalid_settings_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        LineParser(**arguments)


if given is not None:

    @settings(max_examples=300, deadline=None)
    @given(line=st.binary(max_size=300), line_format=st.sampled_from(LINE_FORMATS))
    def test_random_bytes_never_raise(line, line_format):
        # A CSV line naming the field is a header, not a drop; a long field name keeps random
        # bytes from forming one.
        field = None if line_format == "plain" else "temperature_celsius"
        columns = ["timestamp", "temperature_celsius"] if line_format == "csv" else None
        parser = LineParser(line_format, field, csv_columns=columns)
        value = parser.parse(line)
        if value is None:
            assert sum(parser.drops.values()) == 1
            assert set(parser.drops) <= set(DROP_REASONS)
        else:
            assert -50.0 <= value <= 60.0

else:

    @pytest.mark.skip(reason="hypothesis is not installed")
    def test_random_bytes_never_raise():
        pass


def test_deeply_nested_json_dropped():
    parser = LineParser("json")
    assert parser.parse(b"[" * 5000) is None
    assert parser.drops == {"malformed": 1}
