"""Recorded temperature series for the simulator to replay, loaded from CSV with the standard library.

A source CSV has a header row, a time column and a value column. When they are not named, the
time column is the first one called date, time, datetime, timestamp or ts (or whose first values
parse as dates), and the value column the first other one whose first values are numbers. Times
may be UNIX seconds or ISO-like dates (``2010-01-01 00:00``, ``2010/01/01 00:00``); dates without
a zone are taken as UTC.

The default source is ``seattle-temps.csv`` (hourly Seattle temperatures for 2010 in degrees
Fahrenheit) from the vega_datasets package, located without importing the package, because
importing it imports pandas, which the agent must not load.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from edge_agent.sensor_io.errors import SourceDataError
from edge_agent.sensor_io.parsing import fahrenheit_to_celsius

TIME_COLUMN_NAMES = ("date", "time", "datetime", "timestamp", "ts")
DEFAULT_DATASET = "seattle-temps.csv"
DEFAULT_DATASET_UNIT = "F"
_SAMPLE_ROWS = 20


@dataclass(frozen=True)
class SourceSeries:
    """A replayable series: UNIX timestamps (None without a time column) and values in degrees Celsius."""

    path: str
    time_column: str | None
    value_column: str
    timestamps: list[float | None]
    values: list[float]
    skipped_rows: int

    def index_at(self, timestamp: float) -> int:
        """Return the index of the first row at or after ``timestamp``.

        Raises SourceDataError when the series has no times or ends before ``timestamp``.
        """
        if self.time_column is None:
            raise SourceDataError(self.path, "--start-at needs a time column, and none was found")
        for index, row_time in enumerate(self.timestamps):
            if row_time is not None and row_time >= timestamp:
                return index
        last = max(t for t in self.timestamps if t is not None)
        raise SourceDataError(
            self.path, f"--start-at {format_time(timestamp)} is after the last row at {format_time(last)}"
        )


def default_dataset_path() -> Path | None:
    """Locate vega_datasets' seattle-temps.csv without importing vega_datasets; None if not installed."""
    spec = importlib.util.find_spec("vega_datasets")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "_data" / DEFAULT_DATASET
        if candidate.is_file():
            return candidate
    return None


def parse_time(text: str) -> float:
    """Parse UNIX seconds or an ISO-like date (``/`` allowed as date separator, UTC when no zone).

    Raises ValueError when the text is neither.
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("/", "-"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def format_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


def _mostly_numbers(values: list[str]) -> bool:
    """Tell whether more than half of the sampled cells are numbers, tolerating a few bad rows."""
    numbers = 0
    for value in values:
        try:
            float(value)
        except ValueError:
            continue
        numbers += 1
    return numbers * 2 > len(values)


def _parses(values: list[str], parser) -> bool:
    if not values:
        return False
    try:
        for value in values:
            parser(value)
    except ValueError:
        return False
    return True


def _pick_time_column(header: list[str], sample: list[list[str]]) -> str | None:
    for name in header:
        if name.strip().lower() in TIME_COLUMN_NAMES:
            return name
    for index, name in enumerate(header):
        cells = [row[index] for row in sample if index < len(row)]
        if not _parses(cells, float) and _parses(cells, parse_time):
            return name
    return None


def load_series(
    path: str | Path,
    value_column: str | None = None,
    time_column: str | None = None,
    unit: str = "C",
) -> SourceSeries:
    """Load a CSV series, converting values from ``unit`` (``C`` or ``F``) to degrees Celsius.

    Rows whose value is empty or not a finite number, or whose time does not parse, are skipped
    and counted in ``skipped_rows``. Raises SourceDataError when the file cannot be read, a named
    column is missing, no value column is found or no row is usable.
    """
    path = str(path)
    if unit not in ("C", "F"):
        raise ValueError(f"unit must be C or F, got {unit!r}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise SourceDataError(path, f"the file cannot be read ({error})") from error
    if len(rows) < 2:
        raise SourceDataError(path, f"expected a header row and at least one data row, found {len(rows)} rows")
    header = [name.strip() for name in rows[0]]
    data = rows[1:]
    sample = data[:_SAMPLE_ROWS]

    for name, option in ((value_column, "--value-column"), (time_column, "--time-column")):
        if name is not None and name not in header:
            raise SourceDataError(path, f"{option} {name!r} is not a column; the columns are {', '.join(header)}")
    if time_column is None:
        time_column = _pick_time_column(header, sample)
    if value_column is None:
        for index, name in enumerate(header):
            cells = [row[index] for row in sample if index < len(row) and row[index].strip()]
            if name != time_column and _mostly_numbers(cells):
                value_column = name
                break
        if value_column is None:
            raise SourceDataError(path, f"no numeric column found among {', '.join(header)}; pass --value-column")

    value_index = header.index(value_column)
    time_index = header.index(time_column) if time_column is not None else None
    timestamps: list[float | None] = []
    values: list[float] = []
    skipped = 0
    for row in data:
        try:
            value = float(row[value_index])
            row_time = parse_time(row[time_index]) if time_index is not None else None
        except (ValueError, IndexError):
            skipped += 1
            continue
        if not math.isfinite(value):
            skipped += 1
            continue
        values.append(fahrenheit_to_celsius(value) if unit == "F" else value)
        timestamps.append(row_time)
    if not values:
        raise SourceDataError(path, f"no row has a numeric {value_column!r} value")
    return SourceSeries(path, time_column, value_column, timestamps, values, skipped)
