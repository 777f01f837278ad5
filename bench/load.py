"""HTTP load with wrk: keep-alive connections posting one JSON body, results as a dict.

wrk (4.x, the Debian package) is driven by a generated Lua script whose ``done`` hook prints
the counts and latency percentiles as one JSON line, so nothing depends on wrk's text layout.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError

logger = logging.getLogger(__name__)

_MARKER = "BENCH_JSON "
_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """One wrk run against one URL."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect, read, write and timeout errors together
    non_2xx: int
    server_cpu_us_per_request: float | None = None  # CPU of the server's process tree, when measured

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


def ensure_wrk() -> str:
    """Return the path of wrk, installing the Debian package with apt-get when it is missing.

    Raises BenchError when wrk is missing and apt-get is not available or fails.
    """
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise BenchError("wrk is not installed and apt-get is not available; install wrk 4.x and rerun")
    for command in ([apt, "update"], [apt, "install", "-y", "wrk"]):
        print(f"wrk is not installed; running `{' '.join(command)}` to install the Debian package", flush=True)
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            raise BenchError(
                f"`{' '.join(command)}` failed with status {completed.returncode}:\n{completed.stderr[-2000:]}\n"
                "install wrk 4.x yourself (as root or with sudo) and rerun"
            )
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("apt-get installed the wrk package but wrk is not on PATH; add /usr/bin to PATH and rerun")
    return found


def write_script(folder: Path, name: str, body: bytes) -> Path:
    """Write the Lua script that posts ``body``; return its path."""
    text = body.decode()
    if "]==]" in text:
        raise BenchError(f"request body for {name} contains ']==]', which would end the Lua string early")
    path = folder / f"wrk-{name}.lua"
    path.write_text(_SCRIPT % {"body": text, "marker": _MARKER})
    return path


def run_wrk(wrk: str, url: str, script: Path, connections: int, seconds: float, threads: int = 1) -> LoadResult:
    """Run wrk for ``seconds`` with ``connections`` keep-alive connections; parse its JSON line.

    One wrk thread is the default because the machine under test has few cores and wrk shares
    them with the server. Raises BenchError when wrk fails or prints no result.
    """
    duration = max(1, round(seconds))
    command = [
        wrk, "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{duration}s",
        "--timeout", "10s", "-s", str(script), url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((row for row in completed.stdout.splitlines() if row.startswith(_MARKER)), None)
    if completed.returncode != 0 or line is None:
        raise BenchError(
            f"wrk against {url} failed with status {completed.returncode}:\n{completed.stdout[-1500:]}\n{completed.stderr[-1500:]}"
        )
    raw = json.loads(line[len(_MARKER):])
    elapsed = raw["duration_us"] / 1e6
    return LoadResult(
        requests=raw["requests"],
        seconds=elapsed,
        requests_per_second=raw["requests"] / elapsed if elapsed else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        non_2xx=raw["status"],
    )
