"""Cleaning rules that put readings on a fixed interval without inventing long stretches of data.

The rules run in this order. Drop rows without a time or value, reject implausible values, sort
by time and drop duplicate timestamps. Then resample to the interval (the mean of the readings
in each slot) and fill gaps of at most ``fill_limit`` slots by linear interpolation. Longer gaps
stay NaN, and
:func:`edge_agent.features.lag_windows` drops every window that touches one.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from cloud.errors import DataError
from cloud.training.defaults import DEFAULT_FILL_LIMIT, DEFAULT_INTERVAL, DEFAULT_VALID_RANGE_C
from cloud.training.sources import TIME_COLUMN, VALUE_COLUMN

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class CleaningReport:
    """Counts of the rows or slots each cleaning rule touched."""

    rows_in: int
    unparseable: int  # rows whose time or value could not be parsed
    out_of_range: int  # readings outside the plausible range, rejected
    out_of_order: int  # rows that came before their predecessor's time
    duplicates: int  # rows dropped because an earlier row had the same timestamp
    merged: int  # rows averaged into a slot that already had a reading
    empty_slots: int  # slots of the fixed interval with no reading after resampling
    filled: int  # empty slots filled by interpolation (gaps of at most fill_limit slots)
    long_gap_slots: int  # empty slots left as NaN because their gap is longer than fill_limit
    long_gaps: int  # number of such gaps
    rows_out: int  # slots in the output, NaN included

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a plain dict for JSON and MLflow."""
        return asdict(self)


def clean(
    frame: pd.DataFrame,
    interval: str | pd.Timedelta = DEFAULT_INTERVAL,
    fill_limit: int = DEFAULT_FILL_LIMIT,
    valid_range: tuple[float, float] = DEFAULT_VALID_RANGE_C,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the cleaning rules to a frame of readings (``timestamp`` UTC, ``temperature_c``).

    Returns the cleaned frame, one row per slot of ``interval`` from the first to the last
    reading with NaN left in long gaps, and the counts of each rule, which are also logged.

    Raises DataError when the frame lacks the two columns, ``fill_limit`` is negative, the
    range is empty, or no reading survives the rules.
    """
    missing = {TIME_COLUMN, VALUE_COLUMN} - set(frame.columns)
    if missing:
        raise DataError(f"readings need the columns {TIME_COLUMN!r} and {VALUE_COLUMN!r}, missing {sorted(missing)}")
    if fill_limit < 0:
        raise DataError(f"fill_limit is {fill_limit}, expected 0 or more slots")
    low, high = valid_range
    if not low < high:
        raise DataError(f"valid range is {low}..{high} °C, expected the low bound below the high bound")
    step = pd.Timedelta(interval)
    if step <= pd.Timedelta(0):
        raise DataError(f"interval is {interval!r}, expected a positive duration such as '1h'")

    rows_in = len(frame)
    data = frame[[TIME_COLUMN, VALUE_COLUMN]].copy()
    data[VALUE_COLUMN] = pd.to_numeric(data[VALUE_COLUMN], errors="coerce")
    parsed = data[TIME_COLUMN].notna() & data[VALUE_COLUMN].notna()
    unparseable = int((~parsed).sum())
    data = data[parsed]

    plausible = data[VALUE_COLUMN].between(low, high)
    out_of_range = int((~plausible).sum())
    data = data[plausible]
    if data.empty:
        raise DataError(
            f"no reading of {rows_in} is left after dropping {unparseable} unparseable rows and "
            f"{out_of_range} outside {low}..{high} °C; check the unit (--unit) and the value column"
        )

    times = data[TIME_COLUMN]
    out_of_order = int((times.diff() < pd.Timedelta(0)).sum())
    data = data.sort_values(TIME_COLUMN, kind="stable")
    duplicated = data[TIME_COLUMN].duplicated(keep="first")
    duplicates = int(duplicated.sum())
    data = data[~duplicated]

    series = data.set_index(TIME_COLUMN)[VALUE_COLUMN]
    slots = series.index.floor(step)
    merged = int(slots.duplicated().sum())
    grid = pd.date_range(slots.min(), slots.max(), freq=step)
    resampled = series.groupby(slots).mean().reindex(grid)
    empty_slots = int(resampled.isna().sum())

    filled_series, filled, long_gap_slots, long_gaps = _fill_short_gaps(resampled, fill_limit)
    out = pd.DataFrame({TIME_COLUMN: grid, VALUE_COLUMN: filled_series.to_numpy()})
    report = CleaningReport(
        rows_in=rows_in,
        unparseable=unparseable,
        out_of_range=out_of_range,
        out_of_order=out_of_order,
        duplicates=duplicates,
        merged=merged,
        empty_slots=empty_slots,
        filled=filled,
        long_gap_slots=long_gap_slots,
        long_gaps=long_gaps,
        rows_out=len(out),
    )
    _log_report(report, step, fill_limit, valid_range)
    return out, report


def _fill_short_gaps(series: pd.Series, fill_limit: int) -> tuple[pd.Series, int, int, int]:
    """Interpolate runs of at most ``fill_limit`` NaN between two readings; leave longer runs NaN."""
    missing = series.isna().to_numpy()
    if not missing.any():
        return series, 0, 0, 0
    # Label each run of consecutive NaN so its length can be measured as a whole: pandas'
    # own `limit` would fill the first slots of a long gap too, which would invent data.
    run_starts = missing & ~np.concatenate([[False], missing[:-1]])
    run_id = np.cumsum(run_starts) * missing
    run_lengths = np.bincount(run_id)[run_id]
    short = missing & (run_lengths <= fill_limit)
    interpolated = series.interpolate(method="linear", limit_area="inside")
    result = series.copy()
    result[short] = interpolated[short]
    filled = int(result[short].notna().sum())
    long_gap_slots = int(missing.sum()) - filled
    long_gaps = int(len(set(run_id[missing & ~short].tolist())))
    return result, filled, long_gap_slots, long_gaps


def _log_report(report: CleaningReport, step: pd.Timedelta, fill_limit: int, valid_range: tuple[float, float]) -> None:
    logger.info("cleaning: %d rows in", report.rows_in)
    logger.info("cleaning: %d rows dropped without a parseable time or value", report.unparseable)
    logger.info("cleaning: %d readings rejected outside %s..%s °C", report.out_of_range, *valid_range)
    logger.info("cleaning: %d rows out of time order, sorted", report.out_of_order)
    logger.info("cleaning: %d rows dropped as duplicate timestamps", report.duplicates)
    logger.info("cleaning: %d rows averaged into shared %s slots", report.merged, step)
    logger.info(
        "cleaning: %d empty slots, %d filled (gaps of at most %d slots), %d left as NaN in %d long gaps",
        report.empty_slots, report.filled, fill_limit, report.long_gap_slots, report.long_gaps,
    )
    logger.info("cleaning: %d slots out", report.rows_out)
