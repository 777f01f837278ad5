"""Diagnostic plots of the chosen model on the held-out test windows, written as PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_predictions(
    timestamps: pd.Series, actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray, path: Path, title: str
) -> Path:
    """Plot actual readings, model forecasts and the naive forecast over time; return ``path``."""
    figure, axis = plt.subplots(figsize=(11, 4))
    axis.plot(timestamps, actual, label="actual", linewidth=1.2, color="black")
    axis.plot(timestamps, predicted, label="model", linewidth=1.0)
    axis.plot(timestamps, naive, label="naive (last reading)", linewidth=0.8, alpha=0.6)
    axis.set_ylabel("temperature (°C)")
    axis.set_title(title)
    axis.legend(loc="upper right")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_residuals(timestamps: pd.Series, residuals: np.ndarray, path: Path, title: str) -> Path:
    """Plot residuals (actual - forecast) over time and as a histogram; return ``path``."""
    figure, (over_time, histogram) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    over_time.plot(timestamps, residuals, linewidth=0.8)
    over_time.axhline(0.0, color="black", linewidth=0.8)
    over_time.set_ylabel("residual (°C)")
    over_time.set_title(title)
    histogram.hist(residuals, bins=40)
    histogram.set_xlabel("residual (°C)")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
