"""CSV reading with column and unit detection, the Seattle data set and the synthetic series."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cloud.errors import ColumnDetectionError, MissingColumnError
from cloud.training.sources import load_csv, load_seattle_temps, synthetic_series


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.mark.parametrize(
    ("header", "values", "expected_c"),
    [
        ("time,temp_c", ["20.0", "21.0"], [20.0, 21.0]),
        ("Date,Temperature (°F)", ["68.0", "69.8"], [20.0, 21.0]),
        ("timestamp,temp_k", ["293.15", "294.15"], [20.0, 21.0]),
        ("ts,outside_temperature", ["68.0", "77.0"], [20.0, 25.0]),
        ("ts,outside_temperature", ["20.0", "25.0"], [20.0, 25.0]),
        ("station,when,reading", None, [20.0, 21.0]),
    ],
    ids=["celsius-name", "fahrenheit-name", "kelvin-name", "fahrenheit-values", "celsius-values", "only-numeric"],
)
def test_csv_detects_columns_and_unit(tmp_path, header, values, expected_c):
    if values is None:
        rows = ["north,2024-01-01 00:00,20.0", "north,2024-01-01 01:00,21.0"]
    else:
        rows = [f"2024-01-01T0{hour}:00:00Z,{value}" for hour, value in enumerate(values)]
    frame = load_csv(write_csv(tmp_path / "readings.csv", header, rows))

    assert list(frame.columns) == ["timestamp", "temperature_c"]
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T00:00:00Z")
    np.testing.assert_allclose(frame["temperature_c"], expected_c, atol=1e-9)


def test_csv_guessed_unit_logs_warning(tmp_path, caplog):
    path = write_csv(tmp_path / "readings.csv", "time,value", ["2024-01-01T00:00:00Z,68.0", "2024-01-01T01:00:00Z,77.0"])
    with caplog.at_level(logging.WARNING, logger="cloud"):
        load_csv(path)
    assert "guessed as F" in caplog.text


def test_csv_explicit_options_override_detection(tmp_path):
    path = write_csv(tmp_path / "readings.csv", "a,b,c", ["01.02.2024 10:00,5,50.0", "01.02.2024 11:00,6,51.8"])
    frame = load_csv(path, time_column="a", value_column="c", unit="F", time_format="%d.%m.%Y %H:%M", timezone="Europe/Berlin")

    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-02-01T09:00:00Z")
    np.testing.assert_allclose(frame["temperature_c"], [10.0, 11.0], atol=1e-9)


def test_csv_missing_column_lists_columns(tmp_path):
    path = write_csv(tmp_path / "readings.csv", "time,temp_c,humidity", ["2024-01-01T00:00:00Z,20.0,50"])
    with pytest.raises(MissingColumnError) as caught:
        load_csv(path, value_column="temperature")

    message = str(caught.value)
    assert "'temperature'" in message
    assert "'time', 'temp_c', 'humidity'" in message
    assert caught.value.available == ["time", "temp_c", "humidity"]


def test_csv_undetectable_value_column(tmp_path):
    path = write_csv(tmp_path / "readings.csv", "time,a,b", ["2024-01-01T00:00:00Z,1,2"])
    with pytest.raises(ColumnDetectionError) as caught:
        load_csv(path)
    assert caught.value.role == "value"
    assert "'a', 'b'" in str(caught.value)


def test_csv_mixed_offsets_become_utc(tmp_path):
    path = write_csv(
        tmp_path / "readings.csv", "time,temp_c", ["2024-01-01T01:00:00+01:00,20.0", "2024-01-01T01:00:00+00:00,21.0"]
    )
    frame = load_csv(path)
    assert list(frame["timestamp"]) == [pd.Timestamp("2024-01-01T00:00:00Z"), pd.Timestamp("2024-01-01T01:00:00Z")]


def test_seattle_loads_in_celsius_utc():
    frame = load_seattle_temps()

    assert len(frame) == 8759
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["timestamp"].is_monotonic_increasing
    # 2010-01-01 00:00 Pacific standard time is 08:00 UTC; the first reading is 39.4 °F.
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2010-01-01T08:00:00Z")
    assert frame["temperature_c"].iloc[0] == pytest.approx((39.4 - 32) * 5 / 9)
    assert -10 < frame["temperature_c"].min() < frame["temperature_c"].max() < 30


def test_synthetic_series_is_reproducible():
    first = synthetic_series(days=5, seed=7, dropout_fraction=0.05)
    second = synthetic_series(days=5, seed=7, dropout_fraction=0.05)
    other = synthetic_series(days=5, seed=8, dropout_fraction=0.05)

    pd.testing.assert_frame_equal(first, second)
    assert not first["temperature_c"].equals(other["temperature_c"])
    assert len(first) < 5 * 24  # drop-outs removed rows


def test_synthetic_series_has_daily_cycle():
    frame = synthetic_series(days=20, noise_c=0.0, dropout_fraction=0.0, seasonal_amplitude_c=0.0)
    by_hour = frame.groupby(frame["timestamp"].dt.hour)["temperature_c"].mean()
    assert by_hour.max() - by_hour.min() == pytest.approx(8.0, abs=0.1)


def test_synthetic_long_gap_removes_consecutive_rows():
    frame = synthetic_series(days=10, dropout_fraction=0.0, long_gap_intervals=12)
    steps = frame["timestamp"].diff().dropna()
    assert steps.max() == pd.Timedelta(hours=13)
