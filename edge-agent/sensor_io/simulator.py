"""A serial temperature sensor simulator that replays a recorded series over a real port.

The device side is a pseudo-terminal (``/dev/pts/N``, optionally behind a stable symbolic link)
or a TCP listener on 127.0.0.1 for pyserial's ``socket://`` URLs. Lines are written at ``rate``
lines per second in any of the reader's line formats, with optional faults: noise bytes, lines
split across writes, wrong values and disconnects.

Every line but ``plain`` carries ``seq``, a counter over the lines sent, so a test can check that
no complete line was lost. The device address is reported through ``on_port`` each time the port
opens, and the command line prints it as ``serial port: <address>``.

In-process use (the demo, tests)::

    simulator = start_simulator(csv_path="temps.csv", rate=2, link="/tmp/sensor")
    reader = SerialReader(simulator.address)   # the link, /dev/pts/N or socket://127.0.0.1:PORT
    ...
    simulator.stop()
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from edge_agent.sensor_io.errors import SimulatorError
from edge_agent.sensor_io.parsing import DEFAULT_FIELD, LINE_FORMATS
from edge_agent.sensor_io.source import DEFAULT_DATASET_UNIT, SourceSeries, default_dataset_path, load_series
from edge_agent.sensor_io.transports import PtyTransport, TcpTransport

logger = logging.getLogger(__name__)

LINE_ENDINGS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
# Values a faulty sensor sends: implausible readings, non-finite numbers and text.
WRONG_VALUES = ("999.9", "-273.2", "nan", "inf", "ERR")
NOISE_BYTES = b"\x00\xff\xfe\x00\xff"


@dataclass
class SimulatorConfig:
    """Settings of one simulator run, one field per command-line option.

    ``unit`` is the unit of the source values: by default F for the built-in Seattle series and
    C for any ``csv_path``. ``output_unit`` is the unit written to the port. With ``tcp_port``
    None the port is a pseudo-terminal, and 0 picks a free TCP port. Probabilities are per line,
    from 0 to 1.
    """

    csv_path: str | None = None
    value_column: str | None = None
    time_column: str | None = None
    unit: str | None = None
    output_unit: str = "C"
    line_format: str = "plain"
    field: str = DEFAULT_FIELD
    line_ending: str = "lf"
    rate: float = 2.0
    loop: bool = False
    start_at: float | None = None
    max_lines: int | None = None
    link: str | None = None
    tcp_port: int | None = None
    header_every: int = 50
    noise_probability: float = 0.0
    split_probability: float = 0.0
    wrong_value_probability: float = 0.0
    disconnect_probability: float = 0.0
    disconnect_every: float | None = None
    disconnect_for: float = 1.0
    write_timeout: float = 1.0
    seed: int | None = None

    def validate(self) -> None:
        """Raise SimulatorError naming the first invalid setting."""
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise SimulatorError(f"--rate must be a positive number of lines per second, got {self.rate}")
        if self.line_format not in LINE_FORMATS:
            raise SimulatorError(f"--format {self.line_format!r} is not one of {', '.join(LINE_FORMATS)}")
        if self.line_ending not in LINE_ENDINGS:
            raise SimulatorError(f"--line-ending {self.line_ending!r} is not one of {', '.join(LINE_ENDINGS)}")
        for name in ("unit", "output_unit"):
            value = getattr(self, name)
            if value is not None and value not in ("C", "F"):
                raise SimulatorError(f"{name} must be C or F, got {value!r}")
        for name in ("noise_probability", "split_probability", "wrong_value_probability", "disconnect_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimulatorError(f"{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if self.disconnect_every is not None and self.disconnect_every <= 0:
            raise SimulatorError(f"--disconnect-every must be positive seconds, got {self.disconnect_every}")
        if self.disconnect_for < 0:
            raise SimulatorError(f"--disconnect-for must be zero or more seconds, got {self.disconnect_for}")
        if self.max_lines is not None and self.max_lines < 1:
            raise SimulatorError(f"--max-lines must be at least 1, got {self.max_lines}")
        if self.header_every < 1:
            raise SimulatorError(f"--header-every must be at least 1 line, got {self.header_every}")
        if self.tcp_port is not None and self.link is not None:
            raise SimulatorError("--link applies to pseudo-terminals only; drop it or drop --tcp-port")


@dataclass
class SimulatorStats:
    """Counts of one run: lines written, lines dropped because no reader took them, faults injected."""

    lines_sent: int = 0
    lines_unsent: int = 0
    disconnects: int = 0
    faults: Counter = field(default_factory=Counter)


class _Schedule:
    """The line schedule of a run: how many lines are due now at ``rate`` lines per second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        # At high rates lines go out in batches, each covering at most 20 ms of the schedule.
        self.max_batch = max(1, int(rate * 0.02))
        self.restart()

    def restart(self) -> None:
        """Start the schedule afresh, so that the lines missed while disconnected are not sent in a burst."""
        self.started = time.monotonic()
        self.taken = 0

    def take_due(self) -> int:
        """Return how many lines to send now (at most one batch) and count them as sent."""
        due = int((time.monotonic() - self.started) * self.rate) + 1 - self.taken
        if due <= 0:
            return 0
        if due > self.rate + self.max_batch:
            # More than a second behind after a slow write or a disconnect: skip ahead instead
            # of bursting the backlog, as a sensor that was off would not resend old readings.
            self.taken += due - self.max_batch
        due = min(due, self.max_batch)
        self.taken += due
        return due

    def seconds_to_next(self) -> float:
        """Return the wait until the next line is due, at most 0.1 s so stops are noticed."""
        wait = self.taken / self.rate - (time.monotonic() - self.started)
        return min(max(wait, 0.0), 0.1)


@dataclass
class _Batch:
    """Pieces to write in one system call, and how many data lines they complete."""

    pieces: list[bytes] = field(default_factory=list)
    lines: int = 0

    def add(self, piece: bytes, complete: bool) -> None:
        self.pieces.append(piece)
        if complete:
            self.lines += 1

    def clear(self) -> None:
        self.pieces = []
        self.lines = 0


def load_source(config: SimulatorConfig) -> SourceSeries:
    """Load the configured CSV, or the built-in Seattle series when no path is given."""
    if config.csv_path is not None:
        return load_series(config.csv_path, config.value_column, config.time_column, config.unit or "C")
    path = default_dataset_path()
    if path is None:
        raise SimulatorError(
            "no --csv FILE given and the vega_datasets package, which provides the default "
            "seattle-temps.csv, is not installed; pass --csv with a time and a temperature column"
        )
    return load_series(path, config.value_column, config.time_column, config.unit or DEFAULT_DATASET_UNIT)


def start_simulator(on_port: Callable[[str], None] | None = None, **settings: object) -> Simulator:
    """Start a simulator thread with :class:`SimulatorConfig` fields as keywords; call ``.stop()`` when done.

    ``simulator.address`` is the path or URL for the reader. Raises SimulatorError (or
    SourceDataError) for invalid settings or an unreadable source.
    """
    simulator = Simulator(SimulatorConfig(**settings), on_port=on_port)
    simulator.start()
    return simulator


class Simulator:
    """A replay of a :class:`SourceSeries` onto a pseudo-terminal or TCP port, with fault injection.

    ``on_port`` receives the reader-facing address (the link when configured) every time the
    port is opened, including after an injected disconnect.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        series: SourceSeries | None = None,
        on_port: Callable[[str], None] | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.series = series if series is not None else load_source(config)
        self.start_index = self.series.index_at(config.start_at) if config.start_at is not None else 0
        self.stats = SimulatorStats()
        self._on_port = on_port
        self._random = random.Random(config.seed)
        self._transport: PtyTransport | TcpTransport = (
            TcpTransport(config.tcp_port) if config.tcp_port is not None else PtyTransport(config.link)
        )
        self._ending = LINE_ENDINGS[config.line_ending]
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = False
        self._last_write_ok = True
        self._sequence = 0
        self._last_disconnect = time.monotonic()
        self._schedule = _Schedule(config.rate)

    @property
    def address(self) -> str:
        """The address a reader opens: link, ``/dev/pts/N`` or ``socket://127.0.0.1:PORT``."""
        return self._transport.address

    @property
    def device(self) -> str | None:
        """The current slave device of a pseudo-terminal (changes across disconnects), else None."""
        return getattr(self._transport, "device", None) if isinstance(self._transport, PtyTransport) else None

    def open(self) -> str:
        """Open the port and return the reader-facing address."""
        self._transport.open()
        self._opened = True
        self._announce()
        return self.address

    def start(self) -> str:
        """Open the port and replay in a background thread; return the reader-facing address."""
        address = self.open()
        self._thread = threading.Thread(target=self.run, name="sensor-simulator", daemon=True)
        self._thread.start()
        return address

    def stop(self, timeout: float = 5.0) -> None:
        """Stop replaying, close the port and remove the link."""
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._transport.close()

    def disconnect(self) -> None:
        """Drop the link now, as an unplugged cable would."""
        self._transport.disconnect()
        self.stats.disconnects += 1
        logger.info("simulated disconnect of %s", self.address)

    def reconnect(self) -> str:
        """Open the port again after :meth:`disconnect`; a pseudo-terminal may get a new device name."""
        self._transport.open()
        self._announce()
        return self.address

    def run(self, stop_event: threading.Event | None = None) -> SimulatorStats:
        """Replay until the source ends (without ``loop``), ``max_lines`` are sent, or a stop is requested."""
        stop = stop_event or self._stop_event
        if not self._opened:
            self.open()
        config = self.config
        rows = self._rows()
        schedule = self._schedule = _Schedule(config.rate)
        self._last_disconnect = time.monotonic()
        self._sequence = 0
        if config.line_format == "csv":
            self._send(self._csv_header())

        while not stop.is_set():
            due = schedule.take_due()
            if due == 0:
                stop.wait(schedule.seconds_to_next())
                continue
            batch = _Batch()
            for _ in range(due):
                row = next(rows, None)
                if row is None or (config.max_lines is not None and self._sequence >= config.max_lines):
                    self._flush(batch)
                    logger.info("simulator finished after %s lines", self._sequence)
                    return self.stats
                self._add_line(batch, row, stop)
            self._flush(batch)
        return self.stats

    def _add_line(self, batch: _Batch, row: tuple[float | None, float], stop: threading.Event) -> None:
        """Format one row into ``batch`` with its faults; a split or a disconnect flushes the batch."""
        config = self.config
        if config.line_format == "csv" and self._sequence and self._sequence % config.header_every == 0:
            batch.add(self._csv_header(), complete=False)
        timestamp, celsius = row
        line = self._inject_value_faults(self._format(self._sequence, timestamp, celsius))
        self._sequence += 1

        if config.split_probability and self._random.random() < config.split_probability:
            self.stats.faults["split"] += 1
            cut = self._random.randint(1, max(1, len(line) - 1))
            batch.add(line[:cut], complete=False)
            self._flush(batch)
            stop.wait(0.005)  # long enough for the reader to see two separate reads
            line = line[cut:]
        batch.add(line, complete=True)

        if self._disconnect_due():
            self._flush(batch)
            self._disconnect_for_a_while(stop)
            self._last_disconnect = time.monotonic()
            if config.line_format == "csv":
                batch.add(self._csv_header(), complete=False)

    def _rows(self) -> Iterator[tuple[float | None, float]]:
        series = self.series
        index = self.start_index
        while True:
            for position in range(index, len(series.values)):
                yield series.timestamps[position], series.values[position]
            if not self.config.loop:
                return
            index = 0

    def _format(self, sequence: int, timestamp: float | None, celsius: float) -> bytes:
        config = self.config
        value = celsius * 9.0 / 5.0 + 32.0 if config.output_unit == "F" else celsius
        text = f"{value:.2f}"
        stamp = "" if timestamp is None else f"{timestamp:.0f}"
        if config.line_format == "plain":
            line = text
        elif config.line_format == "kv":
            line = f"seq={sequence} {config.field}={text}" + (f" ts={stamp}" if stamp else "")
        elif config.line_format == "csv":
            line = f"{sequence},{stamp},{text}"
        else:
            document: dict[str, object] = {"seq": sequence, config.field: round(value, 2)}
            if timestamp is not None:
                document["ts"] = timestamp
            line = json.dumps(document)
        return line.encode("ascii") + self._ending

    def _csv_header(self) -> bytes:
        return f"seq,timestamp,{self.config.field}".encode("ascii") + self._ending

    def _inject_value_faults(self, line: bytes) -> bytes:
        config = self.config
        body, ending = line[: -len(self._ending)], self._ending
        if config.wrong_value_probability and self._random.random() < config.wrong_value_probability:
            self.stats.faults["wrong_value"] += 1
            wrong = self._random.choice(WRONG_VALUES)
            if config.line_format == "plain":
                body = wrong.encode("ascii")
            elif config.line_format == "json":
                document = json.loads(body)
                document[config.field] = wrong if wrong == "ERR" else float(wrong)
                body = json.dumps(document).encode("ascii")
            else:
                cells = body.decode("ascii")
                head, _, tail = cells.rpartition(f"{config.field}=" if config.line_format == "kv" else ",")
                rest = tail.split(" ", 1)
                rest[0] = wrong
                separator = f"{config.field}=" if config.line_format == "kv" else ","
                body = (head + separator + " ".join(rest)).encode("ascii")
        if config.noise_probability and self._random.random() < config.noise_probability:
            self.stats.faults["noise"] += 1
            position = self._random.randint(0, len(body))
            noise = NOISE_BYTES[: self._random.randint(1, len(NOISE_BYTES))]
            body = body[:position] + noise + body[position:]
        return body + ending

    def _disconnect_due(self) -> bool:
        config = self.config
        if config.disconnect_every is not None and time.monotonic() - self._last_disconnect >= config.disconnect_every:
            return True
        return bool(config.disconnect_probability) and self._random.random() < config.disconnect_probability

    def _disconnect_for_a_while(self, stop: threading.Event) -> None:
        self.disconnect()
        self.stats.faults["disconnect"] += 1
        if stop.wait(self.config.disconnect_for):
            return
        self.reconnect()
        self._schedule.restart()

    def _send(self, data: bytes) -> None:
        # A failed write means no reader is draining the port, so later batches do not wait the
        # full timeout again. One successful write restores the normal timeout.
        timeout = self.config.write_timeout if self._last_write_ok else 0.0
        self._last_write_ok = self._transport.write(data, timeout)

    def _flush(self, batch: _Batch) -> None:
        if not batch.pieces:
            return
        self._send(b"".join(batch.pieces))
        if self._last_write_ok:
            self.stats.lines_sent += batch.lines
        else:
            self.stats.lines_unsent += batch.lines
        batch.clear()

    def _announce(self) -> None:
        if self._on_port is not None:
            self._on_port(self.address)
