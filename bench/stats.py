"""Summaries of repeated measurements: median with minimum and maximum."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median, minimum and maximum of one figure over its runs."""

    median: float
    minimum: float
    maximum: float
    runs: int

    def as_dict(self) -> dict[str, float | int]:
        return {"median": self.median, "min": self.minimum, "max": self.maximum, "runs": self.runs}


def summarize(values: list[float]) -> Summary | None:
    """Summarize ``values``; return None when there are none (a cell that could not run)."""
    if not values:
        return None
    return Summary(statistics.median(values), min(values), max(values), len(values))


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """Divide run i of one series by run i of the other; runs with a zero denominator are left out."""
    return [top / bottom for top, bottom in zip(numerators, denominators) if bottom]
