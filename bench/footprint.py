"""Footprint: start to ready, memory of the process tree, idle CPU, and installed size of the venvs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import Server, stop_process, tree_cpu_seconds, tree_memory_bytes
from bench.stats import ratios, summarize

MIB = 1024 * 1024


def measure_servers(
    starters: dict[str, Callable[[], Server]], warm_up: Callable[[Server], None], runs: int,
    idle_seconds: float, idle_for: set[str],
) -> dict[str, Any]:
    """Start each server ``runs`` times in rotating order; record ready time, memory after a warm-up, idle CPU.

    Idle CPU is measured only for the servers named in ``idle_for``, over ``idle_seconds`` after
    the warm-up, as CPU seconds per wall second of the whole process tree (1.0 is one core).
    """
    names = list(starters)
    samples: dict[str, dict[str, list[float]]] = {name: {"ready_s": [], "pss_mib": [], "rss_mib": [], "idle_core": []} for name in names}
    for run in range(runs):
        for name in names[run % len(names):] + names[: run % len(names)]:
            server = starters[name]()
            try:
                samples[name]["ready_s"].append(server.ready_seconds)
                warm_up(server)
                memory = tree_memory_bytes(server.process.pid)
                samples[name]["pss_mib"].append(memory["pss"] / MIB)
                samples[name]["rss_mib"].append(memory["rss"] / MIB)
                if name in idle_for:
                    samples[name]["idle_core"].append(idle_cpu(server.process.pid, idle_seconds))
            finally:
                stop_process(server.process)
    summaries = {
        name: {key: (summary.as_dict() if (summary := summarize(values)) else None) for key, values in figures.items()}
        for name, figures in samples.items()
    }
    return {"servers": summaries, "ratios_to_first": _ratios_to_first(samples)}


def _ratios_to_first(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """Divide each server's ready time and memory by the first server's, run by run."""
    first, *others = list(samples)
    out = {}
    for name in others:
        out[name] = {}
        for key in ("ready_s", "pss_mib", "rss_mib"):
            summary = summarize(ratios(samples[name][key], samples[first][key]))
            out[name][key] = summary.as_dict() if summary else None
    return out


def idle_cpu(pid: int, seconds: float) -> float:
    """Return the CPU used by the process tree over ``seconds`` with no requests, in cores."""
    before_cpu, before_wall = tree_cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)  # the measurement itself: the process is left alone for this long
    return (tree_cpu_seconds(pid) - before_cpu) / (time.perf_counter() - before_wall)


def folder_bytes(folder: Path) -> int:
    """Return the disk usage of ``folder`` in bytes, as ``du`` counts it (allocated blocks)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def agent_venv(target: Path, repo: Path, log_path: Path) -> tuple[Path | None, str]:
    """Create (once) a venv with only the edge agent from ``constraints.txt``; return it and a note.

    Returns (None, reason) when the venv cannot be created, for example without access to PyPI.
    A venv from an earlier run is reused when its marker file exists.
    """
    marker = target / ".bench-complete"
    if marker.exists():
        return target, "reused from an earlier run"
    print(f"creating the agent-only venv in {target} (pip install -c constraints.txt ./edge-agent)", flush=True)
    # pip builds a local project in place and leaves build/ behind, so it builds a copy instead.
    source = target.parent / "edge-agent-source"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(repo / "edge-agent", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    with open(log_path, "wb") as log:
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(target)],
            [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(repo / "constraints.txt"), str(source)],
        ]
        for command in steps:
            completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=repo, timeout=900)
            if completed.returncode != 0:
                return None, f"`{' '.join(command[-4:])}` failed with status {completed.returncode}; see {log_path}"
    marker.touch()
    return target, "created in this run"


def installed_sizes(agent: Path | None, full: Path) -> dict[str, Any]:
    """Return the sizes in MiB of both venvs, whole and without pip, which both carry."""

    def sizes(venv: Path) -> dict[str, float]:
        whole = folder_bytes(venv)
        pip = sum(folder_bytes(path) for path in (venv / "lib").glob("python*/site-packages/pip"))
        return {"total_mib": whole / MIB, "without_pip_mib": (whole - pip) / MIB}

    return {"agent_venv": sizes(agent) if agent else None, "full_venv": sizes(full)}
