"""Throughput: the reader keeps every complete line from a fast sender, and what that costs.

Each test sends 20,000 lines, checks that every value arrived in order, and prints lines per
second and the reader thread's CPU seconds per 1,000 lines (run with ``-s`` to see them). The
figures depend on the machine; the assertions only check for loss and a generous time limit.
"""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Callable

import pytest

from edge_agent.sensor_io.buffer import ReadingBuffer
from edge_agent.sensor_io.reader import SerialReader
from edge_agent.sensor_io.simulator import Simulator, SimulatorConfig
from edge_agent.sensor_io.source import SourceSeries

LINES = 20_000
TIME_LIMIT = 30.0


def expected_values() -> list[float]:
    # Values 0.000 .. 19.999 encode the line number, so a lost or reordered line shows up.
    return [round(index * 0.001, 3) for index in range(LINES)]


def measure(reader: SerialReader, send: Callable[[], None], label: str) -> None:
    """Run ``send`` in a thread, wait until LINES readings arrived, and print the figures."""
    clock = time.pthread_getcpuclockid(reader._thread.ident)
    cpu_before = time.clock_gettime(clock)
    started = time.perf_counter()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + TIME_LIMIT
    while reader.status()["readings"] < LINES and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    cpu = time.clock_gettime(clock) - cpu_before
    sender.join(timeout=TIME_LIMIT)
    status = reader.status()
    print(
        f"\n{label}: {status['readings']} of {LINES} lines in {elapsed:.3f} s = {LINES / elapsed:,.0f} lines/s, "
        f"reader CPU {cpu:.3f} s = {cpu / LINES * 1000:.4f} CPU s per 1,000 lines"
    )
    assert status["readings"] == LINES, f"lost lines; reader status: {status}"
    assert status["dropped"] == {}


@pytest.mark.parametrize("write_size", ["one-line-per-write", "4-KiB-writes"])
def test_pty_sender_loses_no_line(write_size):
    master, slave = os.openpty()
    tty.setraw(slave)
    payload = b"\n" + b"".join(f"{value:.3f}\n".encode() for value in expected_values())
    reader = SerialReader(os.ttyname(slave), buffer=ReadingBuffer(capacity=LINES), read_timeout=0.2)
    reader.start()

    def send() -> None:
        view = memoryview(payload)
        while view:
            if write_size == "one-line-per-write":
                end = bytes(view[:16]).index(b"\n") + 1
            else:
                end = 4096
            view = view[os.write(master, view[:end]) :]  # blocking: the sender waits when the pty is full

    try:
        measure(reader, send, f"pty, {write_size}")
        assert [reading.value for reading in reader.buffer.latest(LINES)] == expected_values()
    finally:
        reader.stop()
        os.close(master)
        os.close(slave)


def simulator_values() -> list[float]:
    # The simulator writes two decimals, so values cycle through 0.00 .. 49.99; a lost line
    # still shifts every value after it.
    return [round((index % 5000) * 0.01, 2) for index in range(LINES)]


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_simulator_at_20000_lines_per_second(transport):
    # The reader discards the first line after opening, so the simulator sends one extra line first.
    values = [0.0, *simulator_values()]
    series = SourceSeries("generated", None, "temp", [None] * len(values), values, 0)
    config = SimulatorConfig(rate=20_000, line_format="kv", max_lines=len(values), write_timeout=5.0)
    if transport == "tcp":
        config.tcp_port = 0
    simulator = Simulator(config, series=series)
    address = simulator.open()
    reader = SerialReader(address, line_format="kv", buffer=ReadingBuffer(capacity=LINES), read_timeout=0.2)
    reader.start()
    try:
        measure(reader, simulator.run, f"simulator over {transport} at 20,000 lines/s")
        assert simulator.stats.lines_unsent == 0
        assert [reading.value for reading in reader.buffer.latest(LINES)] == simulator_values()
    finally:
        reader.stop()
        simulator.stop()
