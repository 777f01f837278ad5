"""Chronological train/test split of a cleaned series, with all windowing done by ``lag_windows``.

The split is a position in the series, the same for every ``n_lags`` tried, so all candidates are
tested on the same targets: the last ``test_fraction`` of the windows of the largest ``n_lags``.
Training windows have their targets before the split, test windows at or after it. A test
window's inputs may reach back into the training part: they are past readings, which a device
would have too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cloud.errors import DataError, TooFewRowsError
from cloud.training.defaults import DEFAULT_TEST_FRACTION
from edge_agent.features import lag_windows

# Minimum training windows, so that each CV fold still has a few dozen samples.
MIN_TRAIN_WINDOWS = 60
MIN_TEST_WINDOWS = 5


@dataclass(frozen=True)
class SplitPoint:
    """Start of the held-out test part: series position and timestamp of its first target."""

    index: int
    timestamp: pd.Timestamp
    train_windows: int  # windows of the largest n_lags before the split
    test_windows: int


@dataclass(frozen=True)
class WindowSet:
    """Lag windows of one ``n_lags`` on both sides of the split."""

    n_lags: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def split_point(
    values: np.ndarray, timestamps: pd.Series, max_lags: int, test_fraction: float = DEFAULT_TEST_FRACTION,
    source: str = "the series",
) -> SplitPoint:
    """Find the series position where the last ``test_fraction`` of the ``max_lags`` windows start.

    Raises TooFewRowsError, stating the rows the series has and needs, when it yields fewer than
    the minimum training or test windows; DataError when ``test_fraction`` is not in (0, 1).
    """
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction is {test_fraction}, expected a value between 0 and 1, such as 0.2")
    series = np.asarray(values, dtype=np.float64)
    minimum_windows = math.ceil(max(MIN_TRAIN_WINDOWS / (1 - test_fraction), MIN_TEST_WINDOWS / test_fraction))
    needed = max_lags + minimum_windows
    usable = int(np.count_nonzero(~np.isnan(series)))
    reason = f"{max_lags} lags plus {minimum_windows} windows for training and a {test_fraction:.0%} test part"

    # Window the positions instead of the values: the targets of the windows lag_windows keeps
    # are then the series positions of those targets, gaps handled exactly as for the values.
    positions = np.arange(series.size, dtype=np.float64)
    positions[np.isnan(series)] = np.nan
    try:
        _, targets = lag_windows(positions, max_lags)
    except ValueError as error:
        raise TooFewRowsError(source, usable, needed, reason) from error
    test_count = max(MIN_TEST_WINDOWS, math.ceil(targets.size * test_fraction))
    train_count = targets.size - test_count
    if train_count < MIN_TRAIN_WINDOWS:
        raise TooFewRowsError(source, usable, needed, reason)
    index = int(targets[train_count])
    return SplitPoint(index, pd.Timestamp(timestamps.iloc[index]), train_count, test_count)


def held_out_target_positions(values: np.ndarray, n_lags: int, split: SplitPoint) -> np.ndarray:
    """Return the series positions of the test targets of :func:`windows_for`, in the same order."""
    positions = np.arange(len(values), dtype=np.float64)
    positions[np.isnan(np.asarray(values, dtype=np.float64))] = np.nan
    _, targets = lag_windows(positions[split.index - n_lags :], n_lags)
    return targets.astype(int)


def windows_for(values: np.ndarray, n_lags: int, split: SplitPoint) -> WindowSet:
    """Build the training and test windows of ``n_lags`` around ``split`` with ``lag_windows``."""
    series = np.asarray(values, dtype=np.float64)
    x_train, y_train = lag_windows(series[: split.index], n_lags)
    x_test, y_test = lag_windows(series[split.index - n_lags :], n_lags)
    return WindowSet(n_lags, x_train, y_train, x_test, y_test)
