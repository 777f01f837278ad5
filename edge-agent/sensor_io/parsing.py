"""Parsing: turn one framed line into a temperature in degrees Celsius, or a counted drop.

Line formats (``LINE_FORMATS``):

- ``plain``: one number per line, ``21.5``.
- ``kv``: key/value pairs separated by spaces or commas, ``temp=21.5 hum=40`` or ``temp=21.5,hum=40``.
- ``csv``: comma separated cells. Rows are read only after a header line naming the columns
  has arrived or ``csv_columns`` was given. A device that repeats its header lets a reader that
  attached mid-stream catch up.
- ``json``: one JSON object per line, ``{"temp": 21.5}``.

The parser raises nothing on device data (a property test feeds it random bytes). A rejected line increments ``drops[reason]`` with one of
the ``DROP_*`` reasons below, so the agent can report what its sensor sends.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

LINE_FORMATS = ("plain", "kv", "csv", "json")
UNITS = ("C", "F")
DEFAULT_FIELD = "temp"
DEFAULT_PLAUSIBLE_RANGE = (-50.0, 60.0)

DROP_OVERLONG = "overlong"  # counted by the framer, listed here so every reason is in one place
DROP_NOISE = "noise"  # NUL, 0xFF or other control bytes, typical of line noise or a device reset
DROP_NOT_UTF8 = "not_utf8"
DROP_NOT_A_NUMBER = "not_a_number"
DROP_NOT_FINITE = "not_finite"  # NaN or infinity
DROP_OUT_OF_RANGE = "out_of_range"
DROP_MISSING_FIELD = "missing_field"
DROP_MALFORMED = "malformed"  # not a JSON object, wrong number of CSV cells, kv without '='
DROP_NO_HEADER = "no_header"  # a CSV row before any header line
DROP_REASONS = (
    DROP_OVERLONG,
    DROP_NOISE,
    DROP_NOT_UTF8,
    DROP_NOT_A_NUMBER,
    DROP_NOT_FINITE,
    DROP_OUT_OF_RANGE,
    DROP_MISSING_FIELD,
    DROP_MALFORMED,
    DROP_NO_HEADER,
)

# Tab is the only control character a text line may carry; NUL and 0xFF are the classic noise.
_NOISE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f\xff]")
# key=value, spaces allowed around '=', pairs separated by commas and/or whitespace.
_KV_PAIR = re.compile(r"([^\s,=]+)\s*=\s*([^\s,]*)")


def fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


class LineParser:
    """A converter of framed lines (bytes, no line ending) to degrees Celsius.

    ``field`` names the temperature key or column for ``kv``, ``csv`` and ``json`` (default
    ``temp``) and must be None for ``plain``. ``unit`` is the unit the device sends, ``C`` or
    ``F``; Fahrenheit is converted. Values outside ``plausible_range`` (inclusive, in degrees
    Celsius, checked after conversion) are dropped as ``out_of_range``.

    Raises ValueError for an unknown format or unit, or an empty range.
    """

    def __init__(
        self,
        line_format: str = "plain",
        field: str | None = None,
        unit: str = "C",
        plausible_range: tuple[float, float] = DEFAULT_PLAUSIBLE_RANGE,
        csv_columns: list[str] | None = None,
    ) -> None:
        if line_format not in LINE_FORMATS:
            raise ValueError(f"line format {line_format!r} is not supported; use one of {', '.join(LINE_FORMATS)}")
        if unit not in UNITS:
            raise ValueError(f"unit {unit!r} is not supported; use C or F")
        low, high = plausible_range
        if not low < high:
            raise ValueError(f"plausible range must have minimum < maximum, got {low} .. {high} °C")
        if line_format == "plain" and field is not None:
            raise ValueError(f"format 'plain' has no fields, but field {field!r} was given; drop the field or use kv, csv or json")
        self.line_format = line_format
        self.field = field if field is not None or line_format == "plain" else DEFAULT_FIELD
        self.unit = unit
        self.minimum, self.maximum = float(low), float(high)
        self.drops: Counter[str] = Counter()
        self._csv_index: int | None = None
        self._csv_width = 0
        if csv_columns is not None:
            self._set_csv_header([column.strip() for column in csv_columns])
        self._extract = {
            "plain": self._extract_plain,
            "kv": self._extract_kv,
            "csv": self._extract_csv,
            "json": self._extract_json,
        }[line_format]

    def parse(self, line: bytes) -> float | None:
        """Return the line's temperature in degrees Celsius, or None after counting why it was dropped."""
        if _NOISE.search(line):
            self.drops[DROP_NOISE] += 1
            return None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.drops[DROP_NOT_UTF8] += 1
            return None
        raw = self._extract(text.strip())
        if raw is None:
            return None
        try:
            value = float(raw)
        except (TypeError, ValueError, OverflowError):
            self.drops[DROP_NOT_A_NUMBER] += 1
            return None
        if not math.isfinite(value):
            self.drops[DROP_NOT_FINITE] += 1
            return None
        if self.unit == "F":
            value = fahrenheit_to_celsius(value)
        if not self.minimum <= value <= self.maximum:
            self.drops[DROP_OUT_OF_RANGE] += 1
            return None
        return value

    def _extract_plain(self, text: str) -> str | None:
        return text

    def _extract_kv(self, text: str) -> str | None:
        found_pair = False
        for match in _KV_PAIR.finditer(text):
            found_pair = True
            if match.group(1) == self.field:
                return match.group(2)
        self.drops[DROP_MISSING_FIELD if found_pair else DROP_MALFORMED] += 1
        return None

    def _extract_csv(self, text: str) -> str | None:
        cells = [cell.strip() for cell in text.split(",")]
        if self.field in cells:
            # A header line, possibly repeated by the device; not a drop.
            self._set_csv_header(cells)
            return None
        if self._csv_index is None:
            self.drops[DROP_NO_HEADER] += 1
            return None
        if len(cells) != self._csv_width:
            self.drops[DROP_MALFORMED] += 1
            return None
        return cells[self._csv_index]

    def _set_csv_header(self, columns: list[str]) -> None:
        if self.field not in columns:
            raise ValueError(f"CSV columns {columns} have no column {self.field!r}; pass the temperature column as field")
        self._csv_index = columns.index(self.field)
        self._csv_width = len(columns)

    def _extract_json(self, text: str) -> str | float | None:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: brackets nested about 1,000 deep
            self.drops[DROP_MALFORMED] += 1
            return None
        if not isinstance(document, dict):
            self.drops[DROP_MALFORMED] += 1
            return None
        if self.field not in document:
            self.drops[DROP_MISSING_FIELD] += 1
            return None
        value = document[self.field]
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.drops[DROP_NOT_A_NUMBER] += 1
            return None
        return value
