"""Cleaning rules: each case feeds readings with one defect and checks the counts and the output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloud.errors import DataError
from cloud.training.cleaning import clean
from edge_agent.features import lag_windows


def readings(*pairs: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime([time for time, _ in pairs], utc=True),
            "temperature_c": [value for _, value in pairs],
        }
    )


def hourly(values: list[float], start: str = "2024-01-01T00:00:00Z") -> pd.DataFrame:
    times = pd.date_range(start, periods=len(values), freq="1h")
    return pd.DataFrame({"timestamp": times, "temperature_c": values})


def test_clean_drops_duplicate_timestamps():
    frame, report = clean(readings(("2024-01-01T00:00Z", 1.0), ("2024-01-01T01:00Z", 2.0), ("2024-01-01T01:00Z", 9.0)))
    assert report.duplicates == 1
    assert list(frame["temperature_c"]) == [1.0, 2.0]


def test_clean_sorts_out_of_order_rows():
    frame, report = clean(readings(("2024-01-01T02:00Z", 3.0), ("2024-01-01T00:00Z", 1.0), ("2024-01-01T01:00Z", 2.0)))
    assert report.out_of_order == 1
    assert list(frame["temperature_c"]) == [1.0, 2.0, 3.0]
    assert frame["timestamp"].is_monotonic_increasing


def test_clean_rejects_implausible_values():
    frame, report = clean(hourly([10.0, 11.0, 85.0, 13.0, -60.0, 15.0]))
    assert report.out_of_range == 2
    # A rejected reading leaves a one-slot gap, which is short and so interpolated.
    np.testing.assert_allclose(frame["temperature_c"], [10.0, 11.0, 12.0, 13.0, 14.0, 15.0])


def test_clean_valid_range_is_configurable():
    _, report = clean(hourly([10.0, 11.0, 12.0]), valid_range=(10.5, 20.0))
    assert report.out_of_range == 1


def test_clean_averages_readings_in_one_slot():
    frame, report = clean(readings(("2024-01-01T00:10Z", 1.0), ("2024-01-01T00:40Z", 3.0), ("2024-01-01T01:00Z", 4.0)))
    assert report.merged == 1
    assert list(frame["temperature_c"]) == [2.0, 4.0]
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T00:00Z")


def test_clean_counts_unparseable_rows():
    frame = hourly([1.0, 2.0, 3.0])
    frame["temperature_c"] = frame["temperature_c"].astype(object)
    frame.loc[1, "temperature_c"] = "n/a"
    _, report = clean(frame)
    assert report.unparseable == 1
    assert report.filled == 1


@pytest.mark.parametrize(
    ("gap", "fill_limit", "filled", "left"),
    [(1, 3, 1, 0), (3, 3, 3, 0), (4, 3, 0, 4), (2, 1, 0, 2), (5, 6, 5, 0)],
    ids=["one-slot", "at-limit", "over-limit", "limit-one", "raised-limit"],
)
def test_clean_fills_only_short_gaps(gap, fill_limit, filled, left):
    values = [float(i) for i in range(20)]
    remaining_values = values[:8] + values[8 + gap :]
    times = list(pd.date_range("2024-01-01", periods=20, freq="1h", tz="UTC"))
    frame = pd.DataFrame({"timestamp": times[:8] + times[8 + gap :], "temperature_c": remaining_values})

    cleaned, report = clean(frame, fill_limit=fill_limit)

    assert report.empty_slots == gap
    assert report.filled == filled
    assert report.long_gap_slots == left
    assert report.long_gaps == (1 if left else 0)
    assert len(cleaned) == 20
    assert cleaned["temperature_c"].isna().sum() == left
    if filled:
        # Linear interpolation of a linear series gives back the dropped values.
        np.testing.assert_allclose(cleaned["temperature_c"], values)


def test_clean_long_gap_splits_windows():
    values = list(np.linspace(0.0, 10.0, 30))
    times = list(pd.date_range("2024-01-01", periods=30, freq="1h", tz="UTC"))
    frame = pd.DataFrame({"timestamp": times[:10] + times[15:], "temperature_c": values[:10] + values[15:]})

    cleaned, _ = clean(frame, fill_limit=3)
    x, y = lag_windows(cleaned["temperature_c"].to_numpy(), 4)

    # 10 readings before the gap give 6 windows of 4 lags + target, 15 after it give 11.
    assert len(y) == 6 + 11
    assert not np.isnan(x).any()


def test_clean_resamples_to_interval():
    frame = pd.DataFrame(
        {"timestamp": pd.date_range("2024-01-01", periods=12, freq="15min", tz="UTC"), "temperature_c": np.arange(12.0)}
    )
    cleaned, report = clean(frame, interval="1h")
    assert list(cleaned["temperature_c"]) == [1.5, 5.5, 9.5]
    assert report.merged == 9


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"fill_limit": -1}, "fill_limit is -1"),
        ({"valid_range": (5.0, 5.0)}, "low bound below the high bound"),
        ({"interval": "0h"}, "positive duration"),
    ],
    ids=["negative-limit", "empty-range", "zero-interval"],
)
def test_clean_rejects_bad_options(kwargs, fragment):
    with pytest.raises(DataError, match=fragment):
        clean(hourly([1.0, 2.0]), **kwargs)


def test_clean_rejects_all_out_of_range():
    with pytest.raises(DataError, match="check the unit"):
        clean(hourly([70.0, 75.0, 80.0]))


def test_clean_logs_counts(caplog):
    with caplog.at_level("INFO", logger="cloud"):
        clean(readings(("2024-01-01T00:00Z", 1.0), ("2024-01-01T00:00Z", 2.0), ("2024-01-01T01:00Z", 2.0)))
    assert "1 rows dropped as duplicate timestamps" in caplog.text
    assert "0 readings rejected" in caplog.text
