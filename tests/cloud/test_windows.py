"""Chronological split: same test targets for every n_lags, clear error for short data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cloud.errors import TooFewRowsError
from cloud.training.windows import split_point, held_out_target_positions, windows_for


def series(count: int) -> tuple[np.ndarray, pd.Series]:
    values = np.sin(np.arange(count) / 5.0) * 5 + 10
    times = pd.Series(pd.date_range("2024-01-01", periods=count, freq="1h", tz="UTC"))
    return values, times


def test_split_holds_out_last_fifth():
    values, times = series(1024)
    split = split_point(values, times, max_lags=24)
    windows = 1024 - 24
    assert split.test_windows == 200
    assert split.train_windows == windows - 200
    assert split.timestamp == times.iloc[split.index]
    assert split.index == 24 + split.train_windows


def test_split_same_test_targets_for_all_lags():
    values, times = series(600)
    split = split_point(values, times, max_lags=24)
    expected = values[split.index :]
    for n_lags in (6, 12, 24):
        windows = windows_for(values, n_lags, split)
        np.testing.assert_array_equal(windows.y_test, expected)
        assert windows.y_train.size == split.index - n_lags
        # Training targets all lie before the first test target.
        np.testing.assert_array_equal(windows.y_train, values[n_lags : split.index])


def test_split_windows_skip_gaps():
    values, times = series(600)
    values[100:110] = np.nan
    split = split_point(values, times, max_lags=12)
    windows = windows_for(values, 12, split)
    assert not np.isnan(windows.x_train).any()
    assert windows.y_train.size == split.index - 12 - (10 + 12)


def test_split_too_few_rows_names_counts():
    values, times = series(50)
    with pytest.raises(TooFewRowsError) as caught:
        split_point(values, times, max_lags=24, source="short.csv")
    assert caught.value.rows == 50
    assert caught.value.needed > 50
    message = str(caught.value)
    assert "short.csv has 50 usable rows" in message
    assert f"at least {caught.value.needed} are needed" in message


def test_split_rejects_bad_fraction():
    values, times = series(600)
    with pytest.raises(Exception, match="test fraction is 1.5"):
        split_point(values, times, max_lags=6, test_fraction=1.5)


def test_target_positions_follow_gaps():
    values, times = series(600)
    split = split_point(values, times, max_lags=12)
    values[split.index + 20 : split.index + 23] = np.nan
    windows = windows_for(values, 12, split)
    positions = held_out_target_positions(values, 12, split)
    assert positions.size == windows.y_test.size
    np.testing.assert_array_equal(values[positions], windows.y_test)
    assert split.index + 23 not in positions  # its inputs touch the gap
