"""Line framing: turn the byte stream of a serial port into complete lines.

Pure protocol, no I/O, so it runs the same on a pseudo-terminal, ``loop://`` or a real device.
"""

from __future__ import annotations

DEFAULT_MAX_LINE_BYTES = 256


class LineFramer:
    """A splitter of raw bytes into lines ended by ``\\n``, ``\\r\\n`` or a lone ``\\r``.

    Call :meth:`feed` with every chunk read from the port; it returns the lines completed by that
    chunk, without their line endings. A line split across reads is joined. Empty lines are
    skipped, which is also how the ``\\n`` of a ``\\r\\n`` pair is absorbed.

    After :meth:`reset` (and on creation) everything up to the first line ending is discarded.
    A port opened in the middle of a transmission starts with the tail of a line, which would
    parse as a wrong value (``21.5`` read as ``1.5``). The price is one whole line lost when the
    device happened to start on a line boundary.

    A line longer than ``max_line_bytes`` is dropped whole and counted in ``overlong``: a device
    that never sends a line ending must not grow memory without bound.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, discard_first_line: bool = True) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        self.max_line_bytes = max_line_bytes
        self._discard_first_line = discard_first_line
        self.overlong = 0
        self.partial_discarded = 0
        self.reset()

    def reset(self) -> None:
        """Forget buffered bytes and discard up to the next line ending, as after opening a port."""
        self._pending = b""
        self._skipping_overlong = False
        self._synced = not self._discard_first_line
        self._unsynced_bytes = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes read from the port and return the lines they complete, oldest first."""
        if not data:
            return []
        # Treating CR as a line ending handles CR-only devices and CRLF alike. The empty line
        # that CRLF leaves is skipped below, also when CR and LF arrive in different reads.
        data = data.replace(b"\r", b"\n")

        if not self._synced:
            end = data.find(b"\n")
            if end < 0:
                self._unsynced_bytes = True
                return []
            self._synced = True
            if end > 0 or self._unsynced_bytes:
                self.partial_discarded += 1
            data = data[end + 1 :]

        pieces = (self._pending + data).split(b"\n") if self._pending else data.split(b"\n")
        self._pending = pieces.pop()

        lines: list[bytes] = []
        limit = self.max_line_bytes
        for index, piece in enumerate(pieces):
            if index == 0 and self._skipping_overlong:
                # The tail of a line already counted as overlong.
                self._skipping_overlong = False
                continue
            if not piece:
                continue
            if len(piece) > limit:
                self.overlong += 1
                continue
            lines.append(piece)

        if len(self._pending) > limit:
            if not self._skipping_overlong:
                self.overlong += 1
                self._skipping_overlong = True
            self._pending = b""
        return lines
