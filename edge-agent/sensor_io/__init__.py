"""Serial sensor I/O: read temperature lines from a serial port into a bounded buffer.

Terms used in this package:

- *port*: a device path (``/dev/ttyUSB0``, a stable ``/dev/serial/by-id/...`` link) or a pyserial
  URL (``socket://127.0.0.1:7000``, ``loop://``).
- *line*: bytes up to ``\\n``, ``\\r\\n`` or ``\\r``, cut by :class:`~.framing.LineFramer`.
- *reading*: one timestamped value in degrees Celsius (:class:`~.buffer.Reading`).
- *drop*: a line rejected by :class:`~.parsing.LineParser`, counted by reason instead of raised.
- *segment*: readings without a disconnect or an over-long gap between them; a *history* is cut
  only from the current segment (:class:`~.buffer.ReadingBuffer`).

Modules: ``buffer``, ``framing`` and ``parsing`` are pure protocol without I/O; ``port`` and
``reader`` own the serial port; ``recording`` writes CSV files; ``source``, ``transports`` and
``simulator`` replay a recorded series as a fake device; ``cli`` adds ``cps-edge simulate`` and
``cps-edge read``.
"""

from edge_agent.sensor_io.buffer import Reading, ReadingBuffer
from edge_agent.sensor_io.errors import (
    PortBusyError,
    PortOpenError,
    PortPermissionError,
    SensorError,
    SimulatorError,
    SourceDataError,
)
from edge_agent.sensor_io.reader import SerialReader

__all__ = [
    "PortBusyError",
    "PortOpenError",
    "PortPermissionError",
    "Reading",
    "ReadingBuffer",
    "SensorError",
    "SerialReader",
    "SimulatorError",
    "SourceDataError",
]
