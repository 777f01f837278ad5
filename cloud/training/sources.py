"""Readers that turn raw temperature data into a frame of readings: ``timestamp`` (UTC) and ``temperature_c``.

A *reading* is one timestamped sensor value in degrees Celsius. The readers only parse and convert
units; sorting, de-duplication, resampling and range checks belong to :mod:`cloud.training.cleaning`.
"""

from __future__ import annotations

import logging
import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from cloud.errors import ColumnDetectionError, DataError, MissingColumnError

logger = logging.getLogger(__name__)

TIME_COLUMN = "timestamp"
VALUE_COLUMN = "temperature_c"
UNITS = ("C", "F", "K")

_TIME_NAMES = ("timestamp", "time", "datetime", "date_time", "date", "ts")
_UNIT_PATTERNS = (
    ("K", re.compile(r"(kelvin|(^|[_\s(\[])k([)\]]|$))", re.IGNORECASE)),
    ("F", re.compile(r"(fahrenheit|°f|degf|(^|[_\s(\[])f([)\]]|$))", re.IGNORECASE)),
    ("C", re.compile(r"(celsius|°c|degc|(^|[_\s(\[])c([)\]]|$))", re.IGNORECASE)),
)


def to_celsius(values: pd.Series, unit: str) -> pd.Series:
    """Convert temperatures in ``unit`` ("C", "F" or "K") to degrees Celsius."""
    unit = unit.upper()
    if unit == "C":
        return values.astype(float)
    if unit == "F":
        return (values.astype(float) - 32.0) * 5.0 / 9.0
    if unit == "K":
        return values.astype(float) - 273.15
    raise DataError(f"unknown temperature unit {unit!r}; expected one of {', '.join(UNITS)}")


def load_seattle_temps() -> pd.DataFrame:
    """Load the hourly 2010 Seattle temperatures shipped with the vega_datasets package, in °C.

    The file contains 8,759 wall-clock readings in °F, localized here to America/Los_Angeles.
    The one nonexistent spring-forward hour is shifted forward and the one ambiguous fall-back
    hour is read as daylight time. The UTC series is then on a 1 h grid except for one missing
    hour, which :func:`cloud.training.cleaning.clean` fills.
    """
    path = resources.files("vega_datasets") / "_data" / "seattle-temps.csv"
    with resources.as_file(path) as csv_path:
        raw = pd.read_csv(csv_path)
    local = pd.to_datetime(raw["date"], format="%Y/%m/%d %H:%M")
    timestamps = local.dt.tz_localize(
        "America/Los_Angeles", nonexistent="shift_forward", ambiguous=np.ones(len(local), dtype=bool)
    ).dt.tz_convert("UTC")
    frame = pd.DataFrame({TIME_COLUMN: timestamps, VALUE_COLUMN: to_celsius(raw["temp"], "F")})
    frame.attrs["source"] = "vega_datasets:seattle-temps.csv"
    logger.info("loaded %d Seattle readings (°F converted to °C)", len(frame))
    return frame


def load_csv(
    path: str | Path,
    time_column: str | None = None,
    value_column: str | None = None,
    unit: str | None = None,
    time_format: str | None = None,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """Read a CSV of temperatures, detecting the time column, value column and unit when not given.

    Detection: the time column is the first one named like ``timestamp``/``time``/``date``, else the
    first column whose values parse as dates. The value column is the first whose name contains
    ``temp``, else the only other numeric column. The unit comes from the value column's name
    (``temp_f``, ``Temperature (°C)``, ``kelvin`` ...), else from the values: a median above 150 is
    read as kelvin, a maximum above 60 as °F, anything else as °C. A guessed unit is logged as a
    warning because a cold series in °F looks like °C. Timestamps without an offset are read in
    ``timezone``.

    Raises MissingColumnError (listing the file's columns) when a named column is absent,
    ColumnDetectionError when no column fits a role, DataError when the file cannot be read.
    """
    source = str(path)
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DataError(f"could not read {source} as CSV: {error}") from error
    columns = [str(name) for name in raw.columns]
    if raw.empty:
        raise DataError(f"{source} has a header ({', '.join(columns)}) but no rows")

    time_name = _pick_time_column(raw, source, columns, time_column, time_format)
    value_name = _pick_value_column(raw, source, columns, value_column, time_name)
    unit_name = unit.upper() if unit else _detect_unit(value_name, raw[value_name], source)

    timestamps = _parse_times(raw[time_name], time_format, timezone, source)
    values = pd.to_numeric(raw[value_name], errors="coerce")
    frame = pd.DataFrame({TIME_COLUMN: timestamps, VALUE_COLUMN: to_celsius(values, unit_name)})
    frame.attrs["source"] = source
    logger.info(
        "loaded %d rows from %s (time column %r, value column %r, unit %s)",
        len(frame), source, time_name, value_name, unit_name,
    )
    return frame


RECORDING_PATTERN = "readings-*.csv"


def load_recordings(folder: str | Path) -> pd.DataFrame:
    """Read the files an edge agent's serial recorder wrote into ``folder``, oldest first.

    The recorder names its files ``readings-<UTC time>-<counter>.csv`` with the header
    ``timestamp,temperature_c`` (UNIX seconds, degrees Celsius), so sorting by name sorts by time.
    Raises DataError when the folder contains no such file or a file has other columns.
    """
    folder = Path(folder)
    files = sorted(folder.glob(RECORDING_PATTERN))
    if not files:
        raise DataError(
            f"{folder} has no recorder files ({RECORDING_PATTERN}); point at the folder the agent records "
            "to (its recording_dir), or pass a CSV file"
        )
    parts = []
    for path in files:
        try:
            raw = pd.read_csv(path)
        except (OSError, ValueError) as error:
            raise DataError(f"could not read recorder file {path}: {error}") from error
        if list(raw.columns) != ["timestamp", "temperature_c"]:
            raise DataError(
                f"{path} has the columns {', '.join(map(str, raw.columns))}, expected timestamp,temperature_c "
                "as the agent's recorder writes them"
            )
        parts.append(raw)
    raw = pd.concat(parts, ignore_index=True)
    frame = pd.DataFrame(
        {
            TIME_COLUMN: pd.to_datetime(pd.to_numeric(raw["timestamp"], errors="coerce"), unit="s", utc=True),
            VALUE_COLUMN: pd.to_numeric(raw["temperature_c"], errors="coerce"),
        }
    )
    frame.attrs["source"] = f"recordings:{folder}"
    logger.info("loaded %d recorded readings from %d files in %s", len(frame), len(files), folder)
    return frame


def synthetic_series(
    days: float = 60,
    interval_seconds: int = 3600,
    seed: int = 0,
    start: str = "2024-01-01T00:00:00Z",
    mean_c: float = 12.0,
    daily_amplitude_c: float = 4.0,
    seasonal_amplitude_c: float = 6.0,
    noise_c: float = 0.3,
    dropout_fraction: float = 0.01,
    long_gap_intervals: int = 0,
) -> pd.DataFrame:
    """Generate readings with a daily cycle, a yearly cycle, Gaussian noise and drop-outs.

    Drop-outs are rows removed at random (``dropout_fraction`` of them). ``long_gap_intervals``
    removes one run of that many consecutive rows in the middle, which cleaning leaves as a gap.
    The same arguments always give the same frame.
    """
    rng = np.random.default_rng(seed)
    count = int(days * 86400 // interval_seconds)
    timestamps = pd.date_range(pd.Timestamp(start), periods=count, freq=pd.Timedelta(seconds=interval_seconds))
    hours = np.arange(count) * interval_seconds / 3600.0
    daily = daily_amplitude_c * np.sin(2 * np.pi * (hours - 9.0) / 24.0)
    seasonal = seasonal_amplitude_c * np.sin(2 * np.pi * (hours / 24.0 - 100.0) / 365.25)
    values = mean_c + daily + seasonal + rng.normal(0.0, noise_c, count)

    keep = rng.random(count) >= dropout_fraction
    if long_gap_intervals > 0:
        middle = count // 2
        keep[middle : middle + long_gap_intervals] = False
    frame = pd.DataFrame({TIME_COLUMN: timestamps[keep], VALUE_COLUMN: values[keep]}).reset_index(drop=True)
    frame.attrs["source"] = f"synthetic(days={days}, interval_seconds={interval_seconds}, seed={seed})"
    return frame


def _pick_time_column(
    raw: pd.DataFrame, source: str, columns: list[str], requested: str | None, time_format: str | None
) -> str:
    if requested is not None:
        if requested not in raw.columns:
            raise MissingColumnError(source, requested, "time", columns)
        return requested
    by_name = [name for name in columns if name.strip().lower() in _TIME_NAMES]
    if by_name:
        return by_name[0]
    for name in columns:
        if pd.api.types.is_string_dtype(raw[name]) or raw[name].dtype == object:
            with warnings.catch_warnings():
                # Probing a non-date column makes pandas warn that it cannot infer a format.
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(raw[name].head(20), format=time_format, errors="coerce", utc=True)
            if parsed.notna().all():
                return name
    raise ColumnDetectionError(source, "time", columns)


def _pick_value_column(
    raw: pd.DataFrame, source: str, columns: list[str], requested: str | None, time_name: str
) -> str:
    if requested is not None:
        if requested not in raw.columns:
            raise MissingColumnError(source, requested, "value", columns)
        return requested
    candidates = [name for name in columns if name != time_name]
    by_name = [name for name in candidates if "temp" in name.lower()]
    if by_name:
        return by_name[0]
    numeric = [name for name in candidates if pd.api.types.is_numeric_dtype(raw[name])]
    if len(numeric) == 1:
        return numeric[0]
    raise ColumnDetectionError(source, "value", columns)


def _detect_unit(column: str, values: pd.Series, source: str) -> str:
    for unit, pattern in _UNIT_PATTERNS:
        if pattern.search(column):
            return unit
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        raise DataError(f"{source}: the value column {column!r} has no numeric values")
    if numbers.median() > 150:
        guess = "K"
    elif numbers.max() > 60:
        guess = "F"
    else:
        guess = "C"
    logger.warning(
        "%s: unit of column %r guessed as %s from its values (median %.1f, max %.1f); pass --unit to be sure",
        source, column, guess, numbers.median(), numbers.max(),
    )
    return guess


def _parse_times(column: pd.Series, time_format: str | None, timezone: str, source: str) -> pd.Series:
    try:
        parsed = pd.to_datetime(column, format=time_format, errors="coerce")
    except ValueError as error:
        if "Mixed timezones" not in str(error):
            raise DataError(f"{source}: could not parse timestamps in column {column.name!r}: {error}") from error
        # Different UTC offsets in one column (a DST change in local time): convert each to UTC.
        parsed = pd.to_datetime(column, format=time_format, errors="coerce", utc=True)
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize(timezone, nonexistent="shift_forward", ambiguous="NaT")
    return parsed.dt.tz_convert("UTC")
