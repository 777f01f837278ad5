"""The serial reader: a thread that owns one port and fills a :class:`ReadingBuffer`.

Transport and protocol are kept apart: this module opens, reads and reconnects; framing
(:mod:`.framing`) and parsing (:mod:`.parsing`) turn bytes into readings without any I/O.

Unplug and return: a read or open error marks the reader disconnected, logs one WARNING with the
port and the reason, and retries with exponential backoff capped at ``backoff_max`` seconds.
Each open resolves the path again, so a stable link such as ``/dev/serial/by-id/...`` that now
points to a new ``/dev/ttyUSB*`` is picked up without a restart. Every disconnect starts a new
buffer segment, so no history spans the outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from edge_agent.sensor_io.buffer import Reading, ReadingBuffer
from edge_agent.sensor_io.errors import PortBusyError, PortOpenError
from edge_agent.sensor_io.framing import DEFAULT_MAX_LINE_BYTES, LineFramer
from edge_agent.sensor_io.parsing import DEFAULT_PLAUSIBLE_RANGE, DROP_OVERLONG, LineParser
from edge_agent.sensor_io.port import make_port, open_port, resolve_device
from edge_agent.sensor_io.recording import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, ReadingRecorder

logger = logging.getLogger(__name__)

STATE_CONNECTED = "connected"
STATE_DISCONNECTED = "disconnected"
STATE_STOPPED = "stopped"
SOCKET_DRAIN_BYTES = 65536


class SerialReader:
    """A background thread that reads temperature lines from one serial port.

    ``port`` is a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``) or a pyserial URL
    (``socket://127.0.0.1:7000``, ``loop://``). Device paths are opened with an exclusive lock.
    ``line_format``, ``field``, ``unit``, ``plausible_range`` and ``csv_columns`` configure the
    :class:`LineParser`. Readings go to ``buffer``, or to a new ``ReadingBuffer(gap_seconds=...)``
    when none is given. With ``recording_dir`` set, accepted readings are also written to rotated
    CSV files there. ``on_readings`` is called from the reader thread with each batch of new
    readings and must return quickly. All readings parsed from one read of the port carry the
    time that read returned.

    Raises ValueError for an invalid configuration, including an unknown URL scheme, and for a
    ``gap_seconds`` that contradicts the given buffer's.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        line_format: str = "plain",
        field: str | None = None,
        unit: str = "C",
        plausible_range: tuple[float, float] = DEFAULT_PLAUSIBLE_RANGE,
        buffer: ReadingBuffer | None = None,
        gap_seconds: float | None = None,
        recording_dir: str | None = None,
        recording_max_bytes: int = DEFAULT_MAX_BYTES,
        recording_max_files: int = DEFAULT_MAX_FILES,
        csv_columns: list[str] | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        read_timeout: float = 0.2,
        backoff_initial: float = 0.25,
        backoff_max: float = 10.0,
        on_readings: Callable[[list[Reading]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if buffer is not None and gap_seconds is not None and buffer.gap_seconds != gap_seconds:
            raise ValueError(
                f"gap_seconds={gap_seconds} differs from the given buffer's gap_seconds={buffer.gap_seconds}; "
                "set the gap on the buffer only"
            )
        if not 0 < backoff_initial <= backoff_max:
            raise ValueError(f"backoff must satisfy 0 < initial <= max, got {backoff_initial} and {backoff_max} s")
        if read_timeout <= 0:
            raise ValueError(f"read_timeout must be positive, got {read_timeout} s")
        make_port(port, baudrate, read_timeout)  # fails now on an unknown URL scheme, not in the thread
        self.port = port
        self.baudrate = baudrate
        self.buffer = buffer if buffer is not None else ReadingBuffer(gap_seconds=gap_seconds)
        self._parser = LineParser(line_format, field, unit, plausible_range, csv_columns)
        self._framer = LineFramer(max_line_bytes)
        self._read_timeout = read_timeout
        self._socket_url = port.startswith("socket://")
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._on_readings = on_readings
        self._clock = clock
        self._recorder = (
            ReadingRecorder(recording_dir, recording_max_bytes, recording_max_files) if recording_dir else None
        )

        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._serial: serial.SerialBase | None = None
        self._state = STATE_STOPPED
        self._device: str | None = None
        self._connected_since: float | None = None
        self._last_reading_at: float | None = None
        self._readings = 0
        self._lines = 0
        self._dropped: dict[str, int] = {}
        self._reconnects = 0
        self._last_error: str | None = None
        self._recording_errors = 0
        self._ever_connected = False
        self._outage_logged = False
        self.connected = threading.Event()  # set while the port is open, for callers that wait

    def start(self) -> None:
        """Open the port and start the reader thread.

        The first open happens here so that a port held by another reader fails loudly with
        :class:`PortBusyError`. Any other open failure (device absent, permission denied) is
        logged and retried in the background, because the device may appear later.
        """
        if self._thread is not None:
            raise RuntimeError(f"reader for {self.port} was already started; create a new SerialReader")
        self._stop_event.clear()
        try:
            self._connect()
        except PortBusyError:
            raise
        except PortOpenError as error:
            self._mark_disconnected(error)
        self._thread = threading.Thread(target=self._run, name=f"serial-reader {self.port}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread and close the port; return False if the thread did not end in ``timeout`` s."""
        self._stop_event.set()
        device = self._serial
        if device is not None and hasattr(device, "cancel_read"):
            try:
                device.cancel_read()  # wakes a read blocked in select() at once
            except (serial.SerialException, OSError, AttributeError):
                pass
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.error("serial reader for %s did not stop within %s s", self.port, timeout)
                return False
        else:
            self._close()
        if self._recorder is not None:
            self._recorder.close()
        with self._lock:
            self._state = STATE_STOPPED
        return True

    def status(self) -> dict[str, Any]:
        """Return a snapshot of the reader's state and counters; times are UNIX seconds or None.

        - ``port``: as configured. ``device``: the file the path resolved to at the last open,
          None for URLs.
        - ``state``: ``connected``, ``disconnected`` or ``stopped``.
        - ``connected_since``, ``last_reading_at``, ``last_error``.
        - ``readings``: accepted. ``lines``: complete lines framed, CSV headers included.
        - ``dropped``: count per reason, the reasons listed in ``parsing.DROP_REASONS``.
        - ``reconnects``, ``recording_errors``, ``buffered``, ``segment_length``.
        """
        with self._lock:
            return {
                "port": self.port,
                "device": self._device,
                "state": self._state,
                "connected_since": self._connected_since,
                "last_reading_at": self._last_reading_at,
                "readings": self._readings,
                "lines": self._lines,
                "dropped": dict(self._dropped),
                "reconnects": self._reconnects,
                "last_error": self._last_error,
                "recording_errors": self._recording_errors,
                "buffered": len(self.buffer),
                "segment_length": self.buffer.segment_length(),
            }

    def _run(self) -> None:
        delay = self._backoff_initial
        try:
            while not self._stop_event.is_set():
                if self._serial is None:
                    if self._stop_event.wait(delay):
                        break
                    try:
                        self._connect()
                    except PortOpenError as error:
                        self._mark_disconnected(error)
                        delay = min(delay * 2, self._backoff_max)
                        continue
                    delay = self._backoff_initial
                try:
                    data = self._read_chunk(self._serial)
                except (serial.SerialException, OSError) as error:
                    if self._stop_event.is_set():
                        break
                    self._close()
                    self._mark_disconnected(error)
                    continue
                if data:
                    self._process(data, self._clock())
        except Exception as error:
            logger.exception("serial reader for %s stopped by an unexpected error", self.port)
            with self._lock:
                self._last_error = f"reader thread failed: {error!r}"
                self._state = STATE_STOPPED
            self.connected.clear()
        finally:
            self._close()

    def _read_chunk(self, device: serial.SerialBase) -> bytes:
        """Wait up to the read timeout for data, then take everything already received."""
        if not self._socket_url:
            # Device files and loop:// report the exact byte count waiting.
            return device.read(device.in_waiting or 1)
        # pyserial's socket:// reports only 0 or 1 waiting bytes, and reading byte by byte costs
        # about 0.25 s of CPU per 1,000 lines, so drain with a zero timeout instead. Changing the
        # timeout of a socket:// port makes no system call.
        data = device.read(1)
        if data:
            device.timeout = 0
            try:
                data += device.read(SOCKET_DRAIN_BYTES)
            finally:
                device.timeout = self._read_timeout
        return data

    def _connect(self) -> None:
        device = open_port(self.port, self.baudrate, self._read_timeout)
        now = self._clock()
        self._framer.reset()
        self.buffer.start_segment()
        with self._lock:
            self._serial = device
            self._device = resolve_device(self.port)
            self._state = STATE_CONNECTED
            self._connected_since = now
            reconnect = self._ever_connected
            if reconnect:
                self._reconnects += 1
            self._ever_connected = True
            self._outage_logged = False
        self.connected.set()
        if reconnect:
            logger.info("serial port %s reconnected (device %s)", self.port, self._device or self.port)
        else:
            logger.info("serial port %s open (device %s, %s baud)", self.port, self._device or self.port, self.baudrate)

    def _mark_disconnected(self, error: Exception) -> None:
        self.connected.clear()
        self.buffer.start_segment()
        with self._lock:
            self._state = STATE_DISCONNECTED
            self._connected_since = None
            self._last_error = str(error)
            first = not self._outage_logged
            self._outage_logged = True
            event = "disconnected" if self._ever_connected else "unavailable"
        if first:
            # One WARNING per outage. The retries that follow log at DEBUG, so a long outage
            # does not flood the log.
            logger.warning(
                "serial port %s %s: %s; retrying with backoff up to %s s", self.port, event, error, self._backoff_max
            )
        else:
            logger.debug("serial port %s still unavailable: %s", self.port, error)

    def _close(self) -> None:
        device = self._serial
        self._serial = None
        if device is not None:
            try:
                device.close()
            except (serial.SerialException, OSError) as error:
                logger.debug("closing %s failed: %s", self.port, error)

    def _process(self, data: bytes, timestamp: float) -> None:
        lines = self._framer.feed(data)
        parse = self._parser.parse
        readings = []
        for line in lines:
            value = parse(line)
            if value is not None:
                readings.append(Reading(timestamp, value))
        if readings:
            self.buffer.extend(readings)
            self._record(readings)
        dropped = dict(self._parser.drops)
        if self._framer.overlong:
            dropped[DROP_OVERLONG] = self._framer.overlong
        with self._lock:
            self._lines += len(lines)
            self._readings += len(readings)
            self._dropped = dropped
            if readings:
                self._last_reading_at = timestamp
        if readings and self._on_readings is not None:
            try:
                self._on_readings(readings)
            except Exception:
                # A faulty callback must not stop the reading of the port.
                logger.exception("on_readings callback for %s failed", self.port)

    def _record(self, readings: list[Reading]) -> None:
        if self._recorder is None:
            return
        try:
            self._recorder.write(readings)
        except OSError as error:
            with self._lock:
                self._recording_errors += 1
                count = self._recording_errors
            if count == 1 or count % 1000 == 0:
                logger.warning("recording readings from %s failed (%s failures so far): %s", self.port, count, error)
