"""SerialReader on real pseudo-terminals, loopback TCP and loop://: framing, drops, reconnects.

Every test writes to the master end of a pseudo-terminal (or through the simulator) while the
reader owns the slave end, as it would own /dev/ttyUSB0 on a device.
"""

from __future__ import annotations

import csv
import logging
import os
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from edge_agent.sensor_io.buffer import ReadingBuffer
from edge_agent.sensor_io.errors import PortBusyError, PortPermissionError
from edge_agent.sensor_io.framing import LineFramer
from edge_agent.sensor_io.parsing import LineParser
from edge_agent.sensor_io.port import open_port
from edge_agent.sensor_io.reader import SerialReader
from edge_agent.sensor_io.simulator import Simulator, SimulatorConfig
from edge_agent.sensor_io.source import SourceSeries

READER_LOGGER = "edge_agent.sensor_io.reader"
# Short backoff so reconnect tests take well under a second per retry.
FAST = {"read_timeout": 0.05, "backoff_initial": 0.05, "backoff_max": 0.2}


@dataclass
class Pty:
    master: int
    slave: int
    device: str

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def close(self) -> None:
        for descriptor in (self.master, self.slave):
            try:
                os.close(descriptor)
            except OSError:
                pass


@pytest.fixture
def make_pty() -> Iterator[Callable[[], Pty]]:
    created: list[Pty] = []

    def make() -> Pty:
        master, slave = os.openpty()
        tty.setraw(slave)
        pair = Pty(master, slave, os.ttyname(slave))
        created.append(pair)
        return pair

    yield make
    for pair in created:
        pair.close()


@pytest.fixture
def make_reader() -> Iterator[Callable[..., SerialReader]]:
    readers: list[SerialReader] = []

    def make(port: str, **options) -> SerialReader:
        reader = SerialReader(port, **{**FAST, **options})
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.stop()


def wait_until(condition: Callable[[], bool], reader: SerialReader, what: str, timeout: float = 5.0) -> None:
    """Poll ``condition`` until true; fail with the reader's status after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; reader status: {reader.status()}")


def values(reader: SerialReader) -> list[float]:
    return [reading.value for reading in reader.buffer.latest(100_000)]


def started_reader(make_reader, pty: Pty, **options) -> SerialReader:
    reader = make_reader(pty.device, **options)
    reader.start()
    pty.write(b"\n")  # ends the "first partial line" the framer discards after opening
    return reader


def test_reader_reads_lines(make_pty, make_reader):
    pty = make_pty()
    reader = started_reader(make_reader, pty)
    pty.write(b"21.5\n22.0\n")
    wait_until(lambda: reader.status()["readings"] == 2, reader, "2 readings")
    assert values(reader) == [21.5, 22.0]
    status = reader.status()
    assert status["state"] == "connected"
    assert status["device"] == pty.device
    assert status["last_reading_at"] >= status["connected_since"]
    assert status["dropped"] == {}


def test_reader_joins_split_line(make_pty, make_reader):
    pty = make_pty()
    reader = started_reader(make_reader, pty)
    pty.write(b"21")
    wait_until(lambda: reader._serial is not None and reader._serial.in_waiting == 0, reader, "first half read")
    pty.write(b".5\n")
    wait_until(lambda: reader.status()["readings"] == 1, reader, "the joined reading")
    assert values(reader) == [21.5]


def test_reader_discards_first_partial_line(make_pty, make_reader):
    pty = make_pty()
    reader = make_reader(pty.device)
    reader.start()
    pty.write(b".5\n22.0\n")  # the tail of "21.5", as when the port opens mid-line
    wait_until(lambda: reader.status()["readings"] == 1, reader, "1 reading")
    assert values(reader) == [22.0]
    assert reader.status()["dropped"] == {}


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_reader_line_endings(make_pty, make_reader, ending):
    pty = make_pty()
    reader = started_reader(make_reader, pty)
    pty.write(b"21.5" + ending + b"22.0" + ending + b"23.0" + ending)
    wait_until(lambda: reader.status()["readings"] == 3, reader, "3 readings")
    assert values(reader) == [21.5, 22.0, 23.0]
    assert reader.status()["lines"] == 3


def test_reader_counts_each_drop_reason(make_pty, make_reader):
    pty = make_pty()
    reader = started_reader(make_reader, pty, max_line_bytes=32)
    pty.write(
        b"20.0\n"
        b"21\x00.5\n"  # noise
        b"\xff\xff\xff\n"  # noise
        b"21.5\xe9\n"  # not_utf8
        b"nan\n"  # not_finite
        b"inf\n"  # not_finite
        b"ERR\n"  # not_a_number
        b"85.0\n"  # out_of_range
        b"-60\n"  # out_of_range
        + b"9" * 40 + b"\n"  # overlong
        b"21.0\n"
    )
    wait_until(lambda: reader.status()["lines"] == 10, reader, "10 complete lines")
    status = reader.status()
    assert values(reader) == [20.0, 21.0]
    assert status["readings"] == 2
    assert status["dropped"] == {
        "noise": 2,
        "not_utf8": 1,
        "not_finite": 2,
        "not_a_number": 1,
        "out_of_range": 2,
        "overlong": 1,
    }


@pytest.mark.parametrize(
    ("line_format", "options", "payload", "expected"),
    [
        pytest.param("plain", {}, b"21.5\n", [21.5], id="plain"),
        pytest.param("kv", {}, b"temp=21.5 hum=40\nhum=41,temp=22.5\n", [21.5, 22.5], id="kv"),
        pytest.param("csv", {}, b"ts,temp\n1,21.5\n2,22.5\n", [21.5, 22.5], id="csv"),
        pytest.param("json", {}, b'{"temp": 21.5}\n{"temp": 22.5}\n', [21.5, 22.5], id="json"),
        pytest.param("kv", {"field": "t", "unit": "F"}, b"t=50 h=1\n", [10.0], id="kv-fahrenheit"),
    ],
)
def test_reader_formats(make_pty, make_reader, line_format, options, payload, expected):
    pty = make_pty()
    reader = started_reader(make_reader, pty, line_format=line_format, **options)
    pty.write(payload)
    wait_until(lambda: reader.status()["readings"] == len(expected), reader, f"{len(expected)} readings")
    assert values(reader) == pytest.approx(expected)


def test_second_reader_fails_loudly(make_pty, make_reader):
    pty = make_pty()
    first = make_reader(pty.device)
    first.start()
    second = make_reader(pty.device)
    with pytest.raises(PortBusyError) as raised:
        second.start()
    assert raised.value.port == pty.device
    assert "locked by another process" in str(raised.value)
    assert second.status()["state"] == "stopped"
    pty.write(b"\n21.5\n")
    wait_until(lambda: first.status()["readings"] == 1, first, "the first reader to keep reading")


def test_permission_denied_names_dialout(make_pty):
    """Open a root-owned pseudo-terminal as the unprivileged user 'nobody', in a forked child."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    pty = make_pty()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        message = "opened"
        try:
            os.setgid(65534)
            os.setuid(65534)
            open_port(pty.device, 9600, 0.1)
        except PortPermissionError as error:
            message = f"PortPermissionError: {error}"
        except BaseException as error:  # anything else is reported to the parent as the failure
            message = f"{type(error).__name__}: {error}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    message = os.read(read_end, 4096).decode()
    os.close(read_end)
    assert message.startswith("PortPermissionError"), message
    assert "permission denied" in message
    assert "add the service user to the dialout group" in message


def test_missing_device_retried_until_present(tmp_path, make_pty, make_reader, caplog):
    caplog.set_level(logging.DEBUG, logger=READER_LOGGER)
    link = tmp_path / "sensor"
    reader = make_reader(str(link))
    reader.start()  # no device yet: logged and retried, not raised
    status = reader.status()
    assert status["state"] == "disconnected"
    assert "no such device" in status["last_error"]
    wait_until(lambda: any(r.levelname == "DEBUG" and "still unavailable" in r.getMessage() for r in caplog.records), reader, "a retry")
    pty = make_pty()
    os.symlink(pty.device, link)
    wait_until(lambda: reader.status()["state"] == "connected", reader, "the reader to connect")
    pty.write(b"\n21.5\n")
    wait_until(lambda: reader.status()["readings"] == 1, reader, "a reading")
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1
    assert str(link) in warnings[0].getMessage()


def test_symlink_repointed_to_new_pty(tmp_path, make_pty, make_reader, caplog):
    caplog.set_level(logging.INFO, logger=READER_LOGGER)
    link = tmp_path / "by-id-sensor"
    old = make_pty()
    os.symlink(old.device, link)
    reader = make_reader(str(link))
    reader.start()
    old.write(b"\n21.0\n22.0\n")
    wait_until(lambda: reader.status()["readings"] == 2, reader, "2 readings on the old device")

    new = make_pty()  # created while the old one is open, so it gets a different name
    assert new.device != old.device
    temporary = tmp_path / "link.tmp"
    os.symlink(new.device, temporary)
    os.replace(temporary, link)
    old.close()  # unplug: the reader's next read fails

    wait_until(lambda: reader.status()["reconnects"] == 1, reader, "the reconnect")
    new.write(b"\n23.0\n24.0\n")
    wait_until(lambda: reader.status()["readings"] == 4, reader, "2 readings on the new device")
    status = reader.status()
    assert status["device"] == new.device
    assert status["state"] == "connected"
    assert values(reader) == [21.0, 22.0, 23.0, 24.0]
    assert reader.buffer.segment_length() == 2
    assert reader.buffer.history(3) is None  # no window joins readings across the unplug
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1, warnings
    assert str(link) in warnings[0]
    assert "returned no data" in warnings[0]


def steady_series(count: int = 10) -> SourceSeries:
    return SourceSeries("generated", None, "temp", [None] * count, [20.0 + index / 10 for index in range(count)], 0)


@pytest.mark.parametrize("transport", ["pty-link", "tcp"])
def test_simulator_disconnect_and_return(tmp_path, make_reader, transport):
    config = SimulatorConfig(rate=200, loop=True, line_format="kv")
    if transport == "tcp":
        config.tcp_port = 0
    else:
        config.link = str(tmp_path / "sensor")
    simulator = Simulator(config, series=steady_series())
    address = simulator.start()
    try:
        reader = make_reader(address, line_format="kv", gap_seconds=None)
        reader.start()
        wait_until(lambda: reader.status()["readings"] >= 20, reader, "readings before the disconnect")
        simulator.disconnect()
        wait_until(lambda: reader.status()["state"] == "disconnected", reader, "the reader to notice")
        segments_before = reader.buffer.segments_started()
        count_before = reader.status()["readings"]
        simulator.reconnect()
        wait_until(lambda: reader.status()["readings"] >= count_before + 20, reader, "readings after the return")
        status = reader.status()
        assert status["state"] == "connected"
        assert status["reconnects"] >= 1
        assert reader.buffer.segments_started() == segments_before + 1
        assert reader.buffer.segment_length() == status["readings"] - count_before
    finally:
        simulator.stop()


def test_gap_in_readings_starts_segment(make_pty, make_reader):
    pty = make_pty()
    reader = started_reader(make_reader, pty, gap_seconds=0.2)
    pty.write(b"21.0\n22.0\n")
    wait_until(lambda: reader.status()["readings"] == 2, reader, "2 readings")
    time.sleep(0.3)  # the silence under test, longer than gap_seconds
    pty.write(b"23.0\n")
    wait_until(lambda: reader.status()["readings"] == 3, reader, "the reading after the gap")
    assert reader.buffer.history(1) == [23.0]
    assert reader.buffer.history(2) is None


def test_stop_joins_quickly(make_pty):
    pty = make_pty()
    reader = SerialReader(pty.device, read_timeout=5.0)  # a long blocking read, woken by cancel_read
    reader.start()
    started = time.monotonic()
    assert reader.stop(timeout=3.0) is True
    assert time.monotonic() - started < 1.0
    assert reader.status()["state"] == "stopped"


def test_recording_rotates_and_caps_files(tmp_path, make_pty, make_reader):
    pty = make_pty()
    directory = tmp_path / "recordings"
    reader = started_reader(make_reader, pty, recording_dir=str(directory), recording_max_bytes=200, recording_max_files=3)
    total = 60
    for index in range(total):
        pty.write(f"{20 + index / 100:.2f}\n".encode())
        if index % 10 == 9:
            # Separate batches, so that the recorder rotates between writes.
            wait_until(lambda: reader.status()["readings"] == index + 1, reader, f"{index + 1} readings")
    reader.stop()
    files = sorted(directory.glob("readings-*.csv"))
    assert len(files) == 3
    rows = []
    for path in files:
        assert path.stat().st_size <= 200
        with path.open(newline="") as handle:
            table = list(csv.reader(handle))
        assert table[0] == ["timestamp", "temperature_c"]
        rows.extend(table[1:])
    recorded = [float(value) for _, value in rows]
    assert recorded == values(reader)[-len(recorded) :]
    assert recorded[-1] == pytest.approx(20.59)
    assert all(float(stamp) > 1e9 for stamp, _ in rows)


def test_loop_url_through_framer_and_parser():
    port = open_port("loop://", 9600, 0.2)
    try:
        port.write(b"temp=21.5\r\ntemp=nan\r\ntemp=22.0\r\n")
        data = port.read(port.in_waiting)
    finally:
        port.close()
    parser = LineParser("kv")
    parsed = [parser.parse(line) for line in LineFramer(discard_first_line=False).feed(data)]
    assert parsed == [21.5, None, 22.0]
    assert parser.drops == {"not_finite": 1}


def test_unknown_url_scheme_rejected():
    with pytest.raises(ValueError):
        SerialReader("nosuch://device")


def test_buffer_and_gap_must_agree():
    with pytest.raises(ValueError, match="differs"):
        SerialReader("loop://", buffer=ReadingBuffer(gap_seconds=5.0), gap_seconds=10.0)
