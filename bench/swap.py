"""Swaps under load: wrk posts forecasts while the alias alternates and the agent reloads in a loop."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from bench.http_bench import summarize_load
from bench.load import LoadResult, run_wrk
from bench.procs import http_json
from bench.stats import ratios, summarize


class Swapper(threading.Thread):
    """Move the alias between two versions and POST /model/reload until stopped; count the outcomes."""

    def __init__(self, client: Any, model_name: str, alias: str, versions: tuple[str, str], agent_url: str) -> None:
        super().__init__(name="swapper", daemon=True)
        self.client, self.model_name, self.alias, self.versions = client, model_name, alias, versions
        self.agent_url = agent_url
        self.stop_event = threading.Event()
        self.outcomes: dict[str, int] = {}
        self.failures: list[str] = []

    def run(self) -> None:
        index = 0
        while not self.stop_event.is_set():
            index += 1
            version = self.versions[index % 2]
            try:
                self.client.set_registered_model_alias(self.model_name, self.alias, version)
                status, body = http_json(f"{self.agent_url}/model/reload", "POST", b"")
            except Exception as error:  # the loop stops, and the report lists the error
                self.failures.append(f"swap to version {version} failed: {type(error).__name__}: {error}")
                return
            try:
                result = json.loads(body).get("result", f"http_{status}")
            except ValueError:
                result = f"http_{status}"
            self.outcomes[result] = self.outcomes.get(result, 0) + 1
            if status != 200 and len(self.failures) < 5:
                self.failures.append(f"reload to version {version}: HTTP {status} {body[:300]!r}")


def measure(
    wrk: str, script: Path, agent_url: str, client: Any, model_name: str, alias: str, versions: tuple[str, str],
    runs: int, seconds: float, connections: int = 8,
) -> dict[str, Any]:
    """Alternate plain load and load with swaps in each run; return both and the throughput ratio."""
    plain: list[LoadResult] = []
    swapping: list[LoadResult] = []
    outcomes: dict[str, int] = {}
    failures: list[str] = []
    started = time.perf_counter()
    for run in range(runs):
        for with_swaps in ((False, True) if run % 2 == 0 else (True, False)):
            if not with_swaps:
                plain.append(run_wrk(wrk, f"{agent_url}/predict", script, connections, seconds))
                continue
            swapper = Swapper(client, model_name, alias, versions, agent_url)
            swapper.start()
            try:
                swapping.append(run_wrk(wrk, f"{agent_url}/predict", script, connections, seconds))
            finally:
                swapper.stop_event.set()
                swapper.join(timeout=60)
            for key, count in swapper.outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + count
            failures += swapper.failures
    client.set_registered_model_alias(model_name, alias, versions[0])
    return {
        "connections": connections,
        "plain": summarize_load(plain),
        "with_swaps": summarize_load(swapping),
        "throughput_ratio": summarize(ratios([r.requests_per_second for r in swapping], [r.requests_per_second for r in plain])).as_dict(),
        "reload_outcomes": outcomes,
        "swaps": outcomes.get("swapped", 0),
        "reload_failures": failures,
        "seconds": time.perf_counter() - started,
    }
