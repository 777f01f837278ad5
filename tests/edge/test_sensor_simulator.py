"""The simulator and the ``cps-edge simulate`` / ``read`` commands, on real ports.

Command tests run ``cps-edge`` as a subprocess and read its standard output the way a parent
process (the demo) does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.sensor_io.buffer import ReadingBuffer
from edge_agent.sensor_io.errors import SimulatorError, SourceDataError
from edge_agent.sensor_io.reader import SerialReader
from edge_agent.sensor_io.simulator import Simulator, SimulatorConfig, start_simulator
from edge_agent.sensor_io.source import load_series, parse_time

CPS_EDGE = str(Path(sys.executable).parent / "cps-edge")
FAST = {"read_timeout": 0.05, "backoff_initial": 0.05, "backoff_max": 0.2}


def write_csv(path: Path, rows: list[str], header: str = "date,temp") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0, details: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout} s waiting for {what} {details()}")


class LineReader:
    """A thread that queues a subprocess's output lines, so the test can wait with a timeout."""

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = 20.0) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output line within {timeout} s")


def start_command(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [CPS_EDGE, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- source loading ---------------------------------------------------------------------------


def test_source_detects_columns_and_converts(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["2010/01/01 00:00,50.0", "2010/01/01 01:00,bad", "2010/01/01 02:00,59.0"], header="date,temp")
    series = load_series(path, unit="F")
    assert series.time_column == "date"
    assert series.value_column == "temp"
    assert series.values == pytest.approx([10.0, 15.0])
    assert series.timestamps == [1262304000.0, 1262311200.0]
    assert series.skipped_rows == 1


def test_source_detects_unnamed_time_column(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["station-1,2021-03-01T10:00:00+00:00,4.5"], header="station,observed,celsius")
    series = load_series(path)
    assert series.time_column == "observed"
    assert series.value_column == "celsius"
    assert series.values == [4.5]


def test_source_explicit_value_column(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["1262304000,40,21.0"], header="ts,humidity,air")
    series = load_series(path, value_column="air")
    assert series.values == [21.0]
    assert series.timestamps == [1262304000.0]


@pytest.mark.parametrize(
    ("rows", "header", "arguments", "message"),
    [
        pytest.param([], "date,temp", {}, "at least one data row", id="no-rows"),
        pytest.param(["2010-01-01,x"], "date,temp", {}, "no numeric column", id="no-numbers"),
        pytest.param(["2010-01-01,1"], "date,temp", {"value_column": "air"}, "'air' is not a column", id="missing-column"),
    ],
)
def test_source_errors_explain(tmp_path, rows, header, arguments, message):
    path = write_csv(tmp_path / "temps.csv", rows, header=header)
    with pytest.raises(SourceDataError, match=message):
        load_series(path, **arguments)


def test_start_at_picks_first_row_at_or_after(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,1", "2010-01-01 01:00,2", "2010-01-01 02:00,3"])
    series = load_series(path)
    assert series.index_at(parse_time("2010-01-01T00:30")) == 1
    with pytest.raises(SourceDataError, match="after the last row"):
        series.index_at(parse_time("2011-01-01"))


@pytest.mark.skipif(importlib.util.find_spec("vega_datasets") is None, reason="vega_datasets is not installed")
def test_default_source_without_pandas():
    script = (
        "import sys\n"
        "from edge_agent.sensor_io.simulator import SimulatorConfig, load_source\n"
        "series = load_source(SimulatorConfig())\n"
        "print(len(series.values), round(series.values[0], 3), 'pandas' in sys.modules, 'vega_datasets' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    count, first, pandas_loaded, vega_loaded = result.stdout.split()
    assert int(count) == 8759
    assert float(first) == pytest.approx((39.4 - 32) * 5 / 9, abs=1e-3)
    assert pandas_loaded == "False"
    assert vega_loaded == "False"


# --- simulator in process ---------------------------------------------------------------------


def test_simulator_replaces_stale_link(tmp_path):
    link = tmp_path / "sensor"
    os.symlink("/dev/pts/does-not-exist", link)
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,20"])
    simulator = Simulator(SimulatorConfig(csv_path=str(path), link=str(link)))
    simulator.open()
    try:
        assert os.readlink(link) == simulator.device
    finally:
        simulator.stop()
    assert not os.path.lexists(link)


def test_start_simulator_for_demo(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,21.5"])
    link = tmp_path / "sensor"
    simulator = start_simulator(csv_path=str(path), rate=50, loop=True, link=str(link))
    try:
        assert simulator.address == str(link)
        reader = SerialReader(simulator.address, **FAST)
        reader.start()
        try:
            wait_until(lambda: reader.status()["readings"] >= 2, "2 readings", details=reader.status)
        finally:
            reader.stop()
    finally:
        simulator.stop()
    assert reader.buffer.history(2) == [21.5, 21.5]
    assert not os.path.lexists(link)


def test_simulator_refuses_regular_file_as_link(tmp_path):
    link = tmp_path / "sensor"
    link.write_text("not a link")
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,20"])
    simulator = Simulator(SimulatorConfig(csv_path=str(path), link=str(link)))
    with pytest.raises(SimulatorError, match="not a symbolic link"):
        simulator.open()
    assert link.read_text() == "not a link"


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_simulator_without_reader_does_not_block(tmp_path, transport):
    path = write_csv(tmp_path / "temps.csv", [f"{1262304000 + index},20.5" for index in range(10)], header="ts,temp")
    config = SimulatorConfig(csv_path=str(path), rate=20_000, loop=True, max_lines=40_000, write_timeout=0.2)
    if transport == "tcp":
        config.tcp_port = 0
    simulator = Simulator(config)
    simulator.open()
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (simulator.run(), finished.set()), daemon=True)
    worker.start()
    try:
        assert finished.wait(15.0), f"simulator blocked; stats so far: {simulator.stats}"
    finally:
        simulator.stop()
    assert simulator.stats.lines_unsent > 0
    assert simulator.stats.lines_sent + simulator.stats.lines_unsent == 40_000


def test_faults_are_counted_by_the_reader(tmp_path):
    path = write_csv(tmp_path / "temps.csv", [f"{1262304000 + index * 3600},{15 + index % 10}" for index in range(100)], header="ts,temp")
    config = SimulatorConfig(
        csv_path=str(path),
        line_format="kv",
        rate=2000,
        loop=True,
        max_lines=1500,
        noise_probability=0.05,
        split_probability=0.05,
        wrong_value_probability=0.05,
        seed=7,
    )
    simulator = Simulator(config)
    address = simulator.open()

    reader = SerialReader(address, line_format="kv", buffer=ReadingBuffer(capacity=5000), **FAST)
    reader.start()
    try:
        stats = simulator.run()
        wait_until(
            lambda: reader.status()["lines"] == stats.lines_sent - 1,
            "every complete line but the discarded first one",
            details=reader.status,
        )
    finally:
        reader.stop()
        simulator.stop()

    status = reader.status()
    dropped = status["dropped"]
    assert stats.lines_unsent == 0
    assert stats.faults["split"] > 0
    assert 0 < dropped["noise"] <= stats.faults["noise"]
    wrong_value_drops = sum(dropped.get(reason, 0) for reason in ("out_of_range", "not_finite", "not_a_number"))
    assert 0 < wrong_value_drops <= stats.faults["wrong_value"]
    assert set(dropped) <= {"noise", "out_of_range", "not_finite", "not_a_number"}
    assert status["readings"] + sum(dropped.values()) == status["lines"]
    assert status["readings"] >= status["lines"] - stats.faults["noise"] - stats.faults["wrong_value"]


def replay_once(config: SimulatorConfig, **reader_options) -> tuple[Simulator, SerialReader]:
    """Replay the whole source once into a reader that attached before the first line."""
    simulator = Simulator(config)
    address = simulator.open()
    reader = SerialReader(address, **{**FAST, **reader_options})
    reader.start()
    try:
        stats = simulator.run()
        wait_until(lambda: reader.status()["lines"] >= stats.lines_sent - 1, "every line", details=reader.status)
    finally:
        reader.stop()
        simulator.stop()
    return simulator, reader


def test_start_at_skips_earlier_rows(tmp_path):
    rows = [f"2010-01-01 {hour:02d}:00,{10 + hour}" for hour in range(12)]
    path = write_csv(tmp_path / "temps.csv", rows)
    config = SimulatorConfig(csv_path=str(path), rate=500, line_format="kv", start_at=parse_time("2010-01-01T05:30"))
    simulator, reader = replay_once(config, line_format="kv")
    assert simulator.stats.lines_sent == 6
    # Rows from 06:00 on; the reader discards the first line after opening.
    assert [reading.value for reading in reader.buffer.latest(100)] == [17.0, 18.0, 19.0, 20.0, 21.0]


@pytest.mark.parametrize("line_format", ["plain", "kv", "csv", "json"])
def test_fahrenheit_output_round_trip(tmp_path, line_format):
    rows = [f"{1262304000 + index * 60},{-5 + index * 1.5}" for index in range(20)]
    path = write_csv(tmp_path / "temps.csv", rows, header="ts,temp")
    config = SimulatorConfig(
        csv_path=str(path), rate=500, line_format=line_format, output_unit="F", line_ending="crlf", header_every=5
    )
    simulator, reader = replay_once(config, line_format=line_format, unit="F")
    # The reader discards the first line after opening. In csv that line is the header, so
    # rows count as no_header until the header is repeated before row 5.
    first = 5 if line_format == "csv" else 1
    expected = [-5 + index * 1.5 for index in range(first, 20)]
    assert [reading.value for reading in reader.buffer.latest(100)] == pytest.approx(expected, abs=0.006)
    assert reader.status()["dropped"] == ({"no_header": 5} if line_format == "csv" else {})


@pytest.mark.parametrize("transport", ["pty-link", "tcp"])
def test_periodic_disconnects_reader_returns(tmp_path, transport):
    path = write_csv(tmp_path / "temps.csv", [f"{1262304000 + index},{20 + index % 5}" for index in range(50)], header="ts,temp")
    config = SimulatorConfig(csv_path=str(path), rate=200, loop=True, line_format="csv", disconnect_every=0.3, disconnect_for=0.2)
    if transport == "tcp":
        config.tcp_port = 0
    else:
        config.link = str(tmp_path / "sensor")
    announced: queue.Queue[str] = queue.Queue()
    simulator = Simulator(config, on_port=announced.put)
    address = simulator.start()
    reader = SerialReader(address, line_format="csv", **FAST)
    reader.start()
    try:
        wait_until(lambda: reader.status()["reconnects"] >= 2, "2 reconnects", details=reader.status)
        count = reader.status()["readings"]
        wait_until(lambda: reader.status()["readings"] >= count + 10, "readings after the reconnects", details=reader.status)
    finally:
        reader.stop()
        simulator.stop()
    status = reader.status()
    assert simulator.stats.faults["disconnect"] >= 2
    assert announced.qsize() >= 3  # the first open and one reopen per disconnect
    assert reader.buffer.segments_started() >= 3
    # Rows before the first header the reader sees are dropped; the parser keeps the header
    # across reconnects, so later outages drop none.
    assert status["dropped"].get("no_header", 0) <= config.header_every


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"rate": 0}, "--rate", id="zero-rate"),
        pytest.param({"noise_probability": 1.5}, "noise-probability", id="probability-above-one"),
        pytest.param({"tcp_port": 0, "link": "/tmp/x"}, "--link applies", id="link-with-tcp"),
    ],
)
def test_simulator_settings_validated(arguments, message):
    with pytest.raises(SimulatorError, match=message):
        SimulatorConfig(**arguments).validate()


# --- command line -----------------------------------------------------------------------------


def test_simulate_command_prints_port_and_link(tmp_path):
    path = write_csv(tmp_path / "temps.csv", [f"2010-01-01 00:{minute:02d},{68 + minute / 10}" for minute in range(60)])
    link = tmp_path / "sensor"
    process = start_command("simulate", "--csv", str(path), "--unit", "F", "--rate", "50", "--loop", "--format", "json", "--link", str(link))
    try:
        output = LineReader(process.stdout)
        port_line = output.next()
        assert port_line.startswith("serial port: /dev/pts/"), port_line
        device = port_line.removeprefix("serial port: ")
        assert output.next() == f"serial link: {link} -> {device}"
        assert os.readlink(link) == device

        reader = SerialReader(str(link), line_format="json", **FAST)
        reader.start()
        try:
            wait_until(lambda: reader.status()["readings"] >= 5, "5 readings from the simulator", details=reader.status)
        finally:
            reader.stop()
        expected = {round((68 + minute / 10 - 32) * 5 / 9, 2) for minute in range(60)}
        assert {round(reading.value, 2) for reading in reader.buffer.latest(100)} <= expected
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert not os.path.lexists(link)
    assert "simulator stopped:" in process.stderr.read()


def test_simulate_command_tcp_port(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,21.5"])
    process = start_command("simulate", "--csv", str(path), "--tcp-port", "0", "--loop", "--rate", "20")
    try:
        port_line = LineReader(process.stdout).next()
        assert port_line.startswith("serial port: socket://127.0.0.1:"), port_line
        reader = SerialReader(port_line.removeprefix("serial port: "), **FAST)
        reader.start()
        try:
            wait_until(lambda: reader.status()["readings"] >= 2, "2 readings over TCP", details=reader.status)
        finally:
            reader.stop()
        assert reader.buffer.history(2) == [21.5, 21.5]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_simulate_command_reports_bad_csv(tmp_path):
    result = subprocess.run(
        [CPS_EDGE, "simulate", "--csv", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot replay" in result.stderr
    assert "missing.csv" in result.stderr


def test_read_command_prints_readings(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,21.5", "2010-01-01 01:00,22.5"])
    simulator = Simulator(SimulatorConfig(csv_path=str(path), rate=20, loop=True, line_format="kv", link=str(tmp_path / "sensor")))
    address = simulator.start()
    try:
        result = subprocess.run(
            [CPS_EDGE, "read", "--port", address, "--format", "kv", "--field", "temp", "--count", "3"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        simulator.stop()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        moment, value, unit = line.split()
        assert moment.endswith("+00:00")
        assert value in {"21.50", "22.50"}
        assert unit == "°C"
    status = json.loads(result.stderr[result.stderr.index("{") :])
    assert status["readings"] >= 3
    assert status["state"] == "stopped"


def test_read_command_busy_port_exit_code(tmp_path):
    path = write_csv(tmp_path / "temps.csv", ["2010-01-01 00:00,21.5"])
    simulator = Simulator(SimulatorConfig(csv_path=str(path), rate=5, loop=True))
    address = simulator.start()
    holder = SerialReader(address, **FAST)
    holder.start()
    try:
        result = subprocess.run(
            [CPS_EDGE, "read", "--port", address, "--duration", "5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.stop()
        simulator.stop()
    assert result.returncode == 1
    assert "locked by another process" in result.stderr
    assert "stop the other reader" in result.stderr


def test_help_texts_state_units_and_defaults():
    for command, expected in (
        ("simulate", ["lines written per second", "(default: 2)", "SECONDS", "probability (0 to 1) per line"]),
        ("read", ["bits per second (default: 9600)", "°C", "(default: -50)", "(default: 60)"]),
    ):
        result = subprocess.run([CPS_EDGE, command, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        text = " ".join(result.stdout.split())
        for phrase in expected:
            assert phrase in text, f"{command} --help lacks {phrase!r}"
