"""Opening a serial port by device path or pyserial URL, with errors that tell the operator what to do."""

from __future__ import annotations

import errno as errno_codes
import os

import serial

from edge_agent.sensor_io.errors import PortBusyError, PortOpenError, PortPermissionError

PERMISSION_HINT = (
    "add the service user to the dialout group (sudo usermod -aG dialout USER) and restart the service"
)
BUSY_HINT = "another process holds the port; stop the other reader (find it with: fuser -v PORT)"


def is_device_path(port: str) -> bool:
    """Tell a device path (``/dev/ttyUSB0``) from a pyserial URL (``socket://``, ``loop://``)."""
    return "://" not in port


def make_port(port: str, baudrate: int, timeout: float) -> serial.SerialBase:
    """Create an unopened pyserial port object, exclusive for device paths.

    Raises ValueError for an unknown URL scheme, as pyserial does, because retrying cannot fix it.
    """
    device = serial.serial_for_url(port, baudrate=baudrate, timeout=timeout, do_not_open=True)
    if is_device_path(port):
        # An advisory flock on POSIX: a second reader of the same device fails to open it
        # instead of stealing half of the bytes.
        device.exclusive = True
    return device


def open_port(port: str, baudrate: int, timeout: float) -> serial.SerialBase:
    """Open ``port`` for reading; raise :class:`PortOpenError` or a subclass when it fails."""
    device = make_port(port, baudrate, timeout)
    try:
        device.open()
    except serial.SerialException as error:
        raise classify_open_error(port, error) from error
    except OSError as error:
        raise classify_open_error(port, error) from error
    return device


def classify_open_error(port: str, error: OSError) -> PortOpenError:
    """Map an open failure to the narrowest :class:`PortOpenError` with a hint for the operator."""
    code = getattr(error, "errno", None)
    reason = getattr(error, "strerror", None) or str(error)
    if code in (errno_codes.EACCES, errno_codes.EPERM):
        return PortPermissionError(port, "permission denied", code, PERMISSION_HINT)
    if code in (errno_codes.EWOULDBLOCK, errno_codes.EAGAIN) and "lock" in str(error).lower():
        return PortBusyError(port, "the port is locked by another process", code, BUSY_HINT.replace("PORT", port))
    if code == errno_codes.ENOENT:
        hint = "check that the device is plugged in"
        if os.path.islink(port):
            hint = f"the link points to {os.readlink(port)}, which does not exist; check that the device is plugged in"
        return PortOpenError(port, "no such device", code, hint)
    return PortOpenError(port, reason, code)


def resolve_device(port: str) -> str | None:
    """Return the device file a path resolves to now (following by-id links), or None for a URL."""
    if not is_device_path(port):
        return None
    return os.path.realpath(port)
