"""Serial reader throughput: complete lines per second from a pseudo-terminal sender, loss, CPU.

The method is the one of tests/edge/test_sensor_throughput.py: the sender writes as fast as the
pseudo-terminal takes the bytes, each value encodes its line number so a lost or reordered line
shows, and the CPU time is the reader thread's own.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from typing import Any

from edge_agent.sensor_io.buffer import ReadingBuffer
from edge_agent.sensor_io.reader import SerialReader

from bench.stats import summarize

WRITE_MODES = ("one-line-per-write", "4-KiB-writes")


def run_once(lines: int, write_mode: str, time_limit: float = 60.0) -> dict[str, Any]:
    """Send ``lines`` lines through a fresh pseudo-terminal; return lines/s, CPU and losses."""
    expected = [round(index * 0.001, 3) for index in range(lines)]
    # The reader discards the first line after opening (it may be a partial one), hence the lone "\n".
    payload = b"\n" + b"".join(f"{value:.3f}\n".encode() for value in expected)
    master, slave = os.openpty()
    tty.setraw(slave)
    reader = SerialReader(os.ttyname(slave), buffer=ReadingBuffer(capacity=lines), read_timeout=0.2)
    reader.start()
    try:
        # NOTE: SerialReader exposes no public handle on its thread, so this reads the private
        # attribute, as the throughput test does, to get the thread's own CPU clock.
        clock = time.pthread_getcpuclockid(reader._thread.ident)
        cpu_before = time.clock_gettime(clock)
        started = time.perf_counter()
        sender = threading.Thread(target=_send, args=(master, payload, write_mode), daemon=True)
        sender.start()
        deadline = time.monotonic() + time_limit
        while reader.status()["readings"] < lines and time.monotonic() < deadline:
            time.sleep(0.002)
        elapsed = time.perf_counter() - started
        cpu = time.clock_gettime(clock) - cpu_before
        sender.join(timeout=time_limit)
        status = reader.status()
        received = [reading.value for reading in reader.buffer.latest(lines)]
    finally:
        reader.stop()
        os.close(master)
        os.close(slave)
    return {
        "lines_per_second": status["readings"] / elapsed,
        "cpu_seconds_per_1000_lines": cpu / max(status["readings"], 1) * 1000,
        "received": status["readings"],
        "lost": lines - status["readings"],
        "in_order": received == expected,
        "dropped": status["dropped"],
    }


def _send(master: int, payload: bytes, write_mode: str) -> None:
    view = memoryview(payload)
    while view:
        end = bytes(view[:16]).index(b"\n") + 1 if write_mode == "one-line-per-write" else 4096
        view = view[os.write(master, view[:end]):]  # blocks while the pseudo-terminal is full


def measure(lines: int, runs: int) -> dict[str, Any]:
    """Run both write modes ``runs`` times, alternating; summarize each mode."""
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in WRITE_MODES}
    for run in range(runs):
        for mode in WRITE_MODES if run % 2 == 0 else tuple(reversed(WRITE_MODES)):
            samples[mode].append(run_once(lines, mode))
    return {
        mode: {
            "lines": lines,
            "lines_per_second": summarize([s["lines_per_second"] for s in results]).as_dict(),
            "cpu_seconds_per_1000_lines": summarize([s["cpu_seconds_per_1000_lines"] for s in results]).as_dict(),
            "lost": sum(s["lost"] for s in results),
            "all_in_order": all(s["in_order"] for s in results),
            "dropped": [s["dropped"] for s in results if s["dropped"]],
        }
        for mode, results in samples.items()
    }
