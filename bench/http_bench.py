"""HTTP throughput and latency with wrk: servers compared in interleaved runs, and the batch endpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.load import LoadResult, run_wrk, write_script
from bench.procs import http_json, tree_cpu_seconds
from bench.stats import ratios, summarize

CONCURRENCY = (1, 8)


@dataclass(frozen=True)
class Target:
    """One server endpoint under load and the JSON body posted to it."""

    name: str
    url: str  # full URL of the endpoint
    body: bytes
    pid: int | None = None  # server process whose tree's CPU time is measured during each run


def check_target(target: Target) -> dict[str, Any]:
    """Post the body once; return the status and the parsed response body (or its text)."""
    status, body = http_json(target.url, "POST", target.body)
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body[:500].decode(errors="replace")
    return {"status": status, "body": parsed}


def run_matrix(
    wrk: str, targets: list[Target], work: Path, runs: int, seconds: float, concurrency: tuple[int, ...] = CONCURRENCY
) -> dict[str, dict[int, list[LoadResult]]]:
    """Load every target at every concurrency ``runs`` times, rotating the order of targets per run.

    A short warm-up run per target comes first and is not kept.
    """
    scripts = {target.name: write_script(work, target.name.replace(" ", "-"), target.body) for target in targets}
    for target in targets:
        run_wrk(wrk, target.url, scripts[target.name], 1, 1)
    results: dict[str, dict[int, list[LoadResult]]] = {t.name: {c: [] for c in concurrency} for t in targets}
    for run in range(runs):
        order = targets[run % len(targets):] + targets[: run % len(targets)]
        for connections in concurrency:
            for target in order:
                results[target.name][connections].append(_measured_run(wrk, target, scripts[target.name], connections, seconds))
    return results


def _measured_run(wrk: str, target: Target, script: Path, connections: int, seconds: float) -> LoadResult:
    """Run wrk once; add the server's CPU microseconds per request when its pid is known."""
    if target.pid is None:
        return run_wrk(wrk, target.url, script, connections, seconds)
    cpu_before = tree_cpu_seconds(target.pid)
    result = run_wrk(wrk, target.url, script, connections, seconds)
    cpu = tree_cpu_seconds(target.pid) - cpu_before
    return replace(result, server_cpu_us_per_request=cpu / result.requests * 1e6 if result.requests else None)


def summarize_load(results: list[LoadResult]) -> dict[str, Any]:
    """Summarize requests/s, p50, p99 and errors over the runs of one cell."""
    return {
        "requests_per_second": summarize([r.requests_per_second for r in results]).as_dict(),
        "p50_ms": summarize([r.p50_ms for r in results]).as_dict(),
        "p99_ms": summarize([r.p99_ms for r in results]).as_dict(),
        "server_cpu_us_per_request": _optional_summary([r.server_cpu_us_per_request for r in results]),
        "errors": sum(r.errors for r in results),
        "requests": sum(r.requests for r in results),
        "runs": [asdict(r) for r in results],
    }


def _optional_summary(values: list[float | None]) -> dict[str, Any] | None:
    summary = summarize([value for value in values if value is not None])
    return summary.as_dict() if summary else None


def compare(results: dict[str, dict[int, list[LoadResult]]], numerator: str, denominator: str) -> dict[int, Any]:
    """Ratio of requests/s, run by run, of one server to another at each concurrency."""
    out = {}
    for connections, top in results[numerator].items():
        bottom = results[denominator][connections]
        summary = summarize(ratios([r.requests_per_second for r in top], [r.requests_per_second for r in bottom]))
        out[connections] = summary.as_dict() if summary else None
    return out
