"""Exceptions raised by the serial sensor package.

Port, simulator and source failures derive from :class:`SensorError`, while invalid arguments
raise ValueError. Bad bytes and implausible values from the device raise nothing, because the
parser skips and counts them.
"""

from __future__ import annotations


class SensorError(Exception):
    """Base class for every error raised by ``edge_agent.sensor_io``."""


class PortOpenError(SensorError):
    """A serial port could not be opened.

    ``port`` is the device path or pyserial URL as configured, ``reason`` the operating system's
    or pyserial's message, and ``errno`` the error number when one is known.
    """

    def __init__(self, port: str, reason: str, errno: int | None = None, hint: str | None = None) -> None:
        self.port = port
        self.reason = reason
        self.errno = errno
        self.hint = hint
        message = f"could not open serial port {port}: {reason}"
        if hint:
            message = f"{message}; {hint}"
        super().__init__(message)


class PortPermissionError(PortOpenError):
    """The service user may not open the device file."""


class PortBusyError(PortOpenError):
    """Another process holds the exclusive lock on the device."""


class SimulatorError(SensorError):
    """The simulator could not load its source data or set up its port."""


class SourceDataError(SimulatorError):
    """A CSV source file is missing, empty, or has no usable time and value columns."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot replay {path}: {reason}")
