"""The simulator's side of a serial link: a pseudo-terminal or a TCP listener on loopback.

Both transports write with a deadline and drop what cannot be written in time, so a simulator
without a reader (or with a stalled one) keeps running instead of blocking forever.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import socket
import time
import tty

from edge_agent.sensor_io.errors import SimulatorError

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class PtyTransport:
    """A pseudo-terminal pair whose slave end is the simulated serial device.

    The simulator keeps its own slave descriptor open, so the master end never reads EIO while
    no reader is attached. With ``link`` set, a symbolic link at that path points to the current
    slave device and is replaced atomically on every reopen, giving readers a stable name.
    """

    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self._master: int | None = None
        self._slave: int | None = None
        self.device: str | None = None

    @property
    def address(self) -> str:
        """The path a reader opens: the link when there is one, else the slave device."""
        if self.device is None:
            raise SimulatorError("the pseudo-terminal is not open")
        return self.link or self.device

    def open(self) -> str:
        """Create a new pseudo-terminal pair and return the slave device path."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo back to the master, no CR/LF translation, 8-bit clean
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._master, self._slave = master, slave
        self.device = os.ttyname(slave)
        if self.link:
            self._point_link(self.device)
        return self.device

    def _point_link(self, target: str) -> None:
        if os.path.lexists(self.link) and not os.path.islink(self.link):
            raise SimulatorError(f"--link {self.link} exists and is not a symbolic link; choose another path or remove it")
        temporary = f"{self.link}.tmp-{os.getpid()}"
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(target, temporary)
        os.replace(temporary, self.link)  # atomic: a reader sees the old or the new device, never no link

    def write(self, data: bytes, timeout: float) -> bool:
        """Write ``data`` within ``timeout`` seconds; return False when (part of) it was dropped."""
        if self._master is None:
            return False
        remaining = memoryview(data)
        deadline = time.monotonic() + timeout
        while remaining:
            try:
                written = os.write(self._master, remaining)
                remaining = remaining[written:]
                continue
            except BlockingIOError:
                pass
            except OSError as error:
                if error.errno == errno.EIO:
                    return False
                raise
            _, writable, _ = select.select([], [self._master], [], max(0.0, deadline - time.monotonic()))
            if not writable:
                return False
        return True

    def disconnect(self) -> None:
        """Close both ends, as if the device was unplugged; a reader's next read fails."""
        for descriptor in (self._master, self._slave):
            if descriptor is not None:
                try:
                    os.close(descriptor)
                except OSError:
                    pass
        self._master = self._slave = None

    def close(self) -> None:
        """Close the pair and remove the link if it still points to this simulator's device."""
        device = self.device
        self.disconnect()
        if self.link and device and os.path.islink(self.link):
            try:
                if os.readlink(self.link) == device:
                    os.unlink(self.link)
            except OSError as error:
                logger.warning("could not remove link %s: %s", self.link, error)


class TcpTransport:
    """A TCP listener on 127.0.0.1 that serves one pyserial ``socket://`` client at a time."""

    def __init__(self, port: int = 0) -> None:
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._requested_port = port
        self.port: int | None = None

    @property
    def address(self) -> str:
        if self.port is None:
            raise SimulatorError("the TCP listener is not open")
        return f"socket://{LOOPBACK}:{self.port}"

    def open(self) -> str:
        """Listen on loopback (port 0 picks a free one) and return the pyserial URL."""
        if self._listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((LOOPBACK, self._requested_port))
            except OSError as error:
                listener.close()
                raise SimulatorError(
                    f"cannot listen on {LOOPBACK}:{self._requested_port}: {error}; pick another --tcp-port or 0 for a free one"
                ) from error
            listener.listen(1)
            listener.setblocking(False)
            self._listener = listener
            self.port = listener.getsockname()[1]
        return self.address

    def _accept(self) -> None:
        if self._client is not None or self._listener is None:
            return
        try:
            client, peer = self._listener.accept()
        except BlockingIOError:
            return
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        logger.info("reader connected from %s:%s", *peer)

    def write(self, data: bytes, timeout: float) -> bool:
        """Send ``data`` to the connected reader within ``timeout`` s; False when dropped or no reader."""
        self._accept()
        if self._client is None:
            return False
        remaining = memoryview(data)
        deadline = time.monotonic() + timeout
        while remaining:
            try:
                sent = self._client.send(remaining)
                remaining = remaining[sent:]
                continue
            except BlockingIOError:
                pass
            except OSError as error:
                logger.info("reader disconnected: %s", error)
                self.disconnect()
                return False
            _, writable, _ = select.select([], [self._client], [], max(0.0, deadline - time.monotonic()))
            if not writable:
                return False
        return True

    def disconnect(self) -> None:
        """Drop the connected reader; the listener stays so that it can reconnect."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        self.disconnect()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
