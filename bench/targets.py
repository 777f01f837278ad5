"""The project's performance targets, checked against one run's results."""

from __future__ import annotations

from typing import Any


def _get(results: dict[str, Any], *keys: Any) -> Any:
    value: Any = results
    for key in keys:
        if isinstance(value, dict) and key not in value:
            key = str(key)  # a report read back from JSON has string keys, such as "8" connections
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def _check(name: str, value: float | None, target: float, at_least: bool, unit: str, fmt: str = "{:,.2f}") -> dict[str, Any]:
    """Compare ``value`` with ``target`` and state by how much a missed target is missed."""
    if value is None:
        return {"target": name, "value": None, "met": None, "margin": "not measured"}
    met = value >= target if at_least else value < target
    if met:
        margin = "met"
    elif unit == "%":
        # A relative shortfall of a percentage reads ambiguously, so the gap is in points.
        margin = f"missed by {abs(target - value):.0f} percentage points: {value:.0f}% against {target:.0f}%"
    elif at_least:
        margin = f"missed by {(target - value) / target:.0%}: {fmt.format(value)} {unit} is {fmt.format(target - value)} {unit} short"
    else:
        margin = f"missed by {(value - target) / target:.0%}: {fmt.format(value)} {unit} is {fmt.format(value - target)} {unit} over"
    return {"target": name, "value": value, "unit": unit, "shown": f"{fmt.format(value)} {unit}", "met": met, "margin": margin}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per target with the measured median, whether it is met and by how much it is missed."""
    rows = _throughput_rows(results)

    rss = _get(results, "footprint", "servers", "edge agent", "rss_mib", "median")
    rows.append(_check("agent (sensor and metrics on) < 80 MB resident (RSS of the tree)",
                       None if rss is None else rss * 1024 * 1024 / 1e6, 80, False, "MB", "{:.1f}"))
    rows.append(_check("agent ready < 0.5 s with a model on disk",
                       _get(results, "footprint", "servers", "edge agent", "ready_s", "median"), 0.5, False, "s", "{:.2f}"))

    rows.append(_batch_row(results))
    rows.append(_swap_row(results))
    rows += _serial_rows(results)

    idle = _get(results, "footprint", "servers", "edge agent", "idle_core", "median")
    rows.append(_check("idle agent < 1% of a core", None if idle is None else idle * 100, 1, False, "% of a core", "{:.2f}"))
    return rows


def _throughput_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for connections in (1, 8):
        ratio = _get(results, "http", "agent_to_bare", connections, "median")
        label = "1 connection" if connections == 1 else f"{connections} connections"
        rows.append(_check(f"agent >= 90% of the bare app's requests/s, {label}",
                           None if ratio is None else ratio * 100, 90, True, "%", "{:.0f}"))
    return rows


def _batch_row(results: dict[str, Any]) -> dict[str, Any]:
    if _get(results, "batch", "available") is False:
        return {"target": "batch endpoint > 100,000 predictions/s", "value": None, "met": False,
                "margin": "missed: the agent has no batch endpoint (POST /predict/batch returned "
                          f"{_get(results, 'batch', 'status')})"}
    cells = _get(results, "batch", "cells") or {}
    best = max((cell["predictions_per_second"]["median"] for cell in cells.values()), default=None)
    return _check("batch endpoint > 100,000 predictions/s (best concurrency)", best, 100_000, True, "predictions/s", "{:,.0f}")


def _swap_row(results: dict[str, Any]) -> dict[str, Any]:
    name = "swaps under load fail no request"
    errors = _get(results, "swap", "with_swaps", "errors")
    swaps = _get(results, "swap", "swaps")
    if errors is None:
        return {"target": name, "value": None, "met": None, "margin": "not measured"}
    met = errors == 0 and bool(swaps)
    if met:
        margin = "met"
    elif swaps:
        margin = f"missed: {errors} failed requests during {swaps} swaps"
    else:
        margin = "missed: no swap happened, so the target was not exercised"
    return {"target": name, "value": errors, "unit": "failed requests",
            "shown": f"{errors} failed requests in {swaps} swaps", "met": met, "margin": margin}


def _serial_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for mode in ("one-line-per-write", "4-KiB-writes"):
        name = f"serial reader >= 20,000 lines/s without loss ({mode})"
        cell = _get(results, "serial", mode)
        if cell is None:
            rows.append({"target": name, "value": None, "met": None, "margin": "not measured"})
            continue
        row = _check(name, cell["lines_per_second"]["median"], 20_000, True, "lines/s", "{:,.0f}")
        if cell["lost"] or not cell["all_in_order"]:
            row["met"] = False
            row["margin"] = f"missed: {cell['lost']} lines lost, in order: {cell['all_in_order']}"
        rows.append(row)
    return rows
