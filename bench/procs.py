"""Start and stop the servers under test, and read their memory and CPU time from /proc (Linux)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A benchmark step failed; the message names the step and where its log is."""


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def venv_bin() -> Path:
    """Return the folder of the running interpreter, where the console scripts are installed."""
    return Path(sys.executable).parent


def tool_path(name: str) -> str:
    """Return the path of console script ``name`` next to the interpreter; raise BenchError if missing."""
    candidate = venv_bin() / name
    if not candidate.exists():
        raise BenchError(f"{name} is not installed next to {sys.executable}; run `make install-dev` first")
    return str(candidate)


def bench_env() -> dict[str, str]:
    """Return the environment for child processes: the venv's bin first on PATH, no tracking URI."""
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


@dataclass
class Server:
    """A server process started by the benchmark, with its base URL and log file."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path
    ready_seconds: float


def start_server(
    name: str, command: list[str], url: str, ready_path: str, log_path: Path, timeout: float,
    env: dict[str, str] | None = None, cwd: Path | None = None,
) -> Server:
    """Start ``command`` and poll ``url + ready_path`` until it returns 200.

    ``ready_seconds`` is the time from starting the process to the first 200. Raises BenchError
    with the end of the log when the process exits first or ``timeout`` seconds pass.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env or bench_env(), cwd=cwd, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with status {process.returncode} before it was ready:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url + ready_path, timeout=2) as response:
                if response.status == 200:
                    return Server(name, process, url, log_path, time.perf_counter() - started)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.01)
    stop_process(process)
    raise BenchError(f"{name} did not return 200 on {url + ready_path} within {timeout:.0f} s:\n{tail(log_path)}")


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """Send SIGTERM to the process group the benchmark started, then SIGKILL if the process lingers.

    The servers start their own children (mlflow runs uvicorn and job consumers), and
    ``start_server`` gives each server a new session, so the group contains them all.
    """
    if process.poll() is not None:
        # Stopped earlier: its group id may have been reused since, so nothing is signalled.
        return
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    # Children that outlived the leader keep the group, and its id, alive; stop them too.
    _signal_group(process.pid, signal.SIGTERM)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def process_tree(pid: int) -> list[int]:
    """Return ``pid`` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces; the fields after it are fixed.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, []))
    return tree


def tree_memory_bytes(pid: int) -> dict[str, int]:
    """Sum the proportional (PSS) and resident (RSS) set sizes of ``pid`` and its descendants.

    PSS splits shared pages between the processes that map them, so it does not count the
    shared libraries of a parent and its children twice, as summed RSS does.
    """
    totals = {"pss": 0, "rss": 0, "processes": 0}
    for member in process_tree(pid):
        try:
            text = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        totals["processes"] += 1
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key in ("Pss", "Rss"):
                totals[key.lower()] += int(rest.split()[0]) * 1024
    return totals


def tree_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds used so far by ``pid`` and its live descendants."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime and stime, in clock ticks
    return total / CLOCK_TICKS


def http_json(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    """Send one request and return (status, body), including for 4xx and 5xx responses."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
