"""Lag windows: the one definition of a forecaster's input, shared by training and the agent.

Terms used across the project:

- *reading*: one timestamped sensor value, in degrees Celsius.
- *history*: the most recent readings, **oldest first**. A model with ``n_lags`` inputs sees the
  window ``[x(t - n_lags + 1), ..., x(t - 1), x(t)]`` as columns ``0 .. n_lags - 1`` and predicts
  ``x(t + 1)``, the next reading on the same fixed interval.

The trainer builds its matrices with :func:`lag_windows` and the agent builds its input with
:func:`fit_history`, so the column order cannot drift between the two sides. Only NumPy is
imported here because the agent installs without the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def feature_names(n_lags: int) -> list[str]:
    """Name the model's input columns, oldest first: ``t-(n_lags-1)`` .. ``t-0``."""
    return [f"t-{n_lags - 1 - column}" for column in range(n_lags)]


def lag_windows(values: np.ndarray, n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn a series on a fixed interval into (X, y) for next-value forecasting.

    Row ``i`` of X contains ``values[i : i + n_lags]`` (oldest first) and ``y[i]`` is
    ``values[i + n_lags]``. A NaN marks a gap in the series: every window whose inputs or
    target touch a NaN is dropped, so no window spans a gap.

    Raises ValueError when ``n_lags`` is below 1 or the series yields no complete window.
    """
    if n_lags < 1:
        raise ValueError(f"n_lags must be at least 1, got {n_lags}")
    series = np.asarray(values, dtype=np.float64).ravel()
    if series.size <= n_lags:
        raise ValueError(
            f"series has {series.size} values, at least {n_lags + 1} are needed for {n_lags} lags"
        )
    windows = np.lib.stride_tricks.sliding_window_view(series, n_lags + 1)
    complete = ~np.isnan(windows).any(axis=1)
    if not complete.any():
        raise ValueError(f"series has no {n_lags + 1} consecutive values without a gap")
    kept = windows[complete]
    return kept[:, :n_lags].copy(), kept[:, n_lags].copy()


@dataclass(frozen=True)
class FittedHistory:
    """A history cut or padded to the model's window, with what was done to it."""

    window: np.ndarray  # shape (n_lags,), oldest first
    received: int  # readings in the request
    padded: int  # copies of the oldest reading added in front
    dropped: int  # oldest readings left out because the model uses fewer


def fit_history(history: list[float] | np.ndarray, n_lags: int, pad: bool = True) -> FittedHistory:
    """Fit a history, oldest first, to a model that uses ``n_lags`` readings.

    A longer history keeps its most recent ``n_lags`` readings. A shorter one is padded in front
    with copies of its oldest reading when ``pad`` is true. The forecast then treats the missing
    past as flat, the least surprising guess for a slowly varying temperature, and the caller
    reports the padding.

    Raises ValueError when the history is empty, or shorter than ``n_lags`` with ``pad`` false.
    """
    readings = np.asarray(history, dtype=np.float64).ravel()
    received = int(readings.size)
    if received == 0:
        raise ValueError("history is empty")
    if received >= n_lags:
        return FittedHistory(readings[-n_lags:].copy(), received, 0, received - n_lags)
    if not pad:
        raise ValueError(f"history has {received} readings, the model uses {n_lags}")
    missing = n_lags - received
    window = np.concatenate([np.full(missing, readings[0]), readings])
    return FittedHistory(window, received, missing, 0)
