"""Recording: append readings to CSV files on disk for the cloud collector to import.

Each file starts with the header ``timestamp,temperature_c`` (UNIX seconds, degrees Celsius) and
is named ``readings-<UTC time of its first reading, to the millisecond>Z-<counter>.csv``, so
sorting the names sorts the files by time. A file that would exceed ``max_bytes`` is closed and a
new one started; beyond ``max_files`` the oldest are deleted. Only the newest file is still being
written.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TextIO

from edge_agent.sensor_io.buffer import Reading

logger = logging.getLogger(__name__)

HEADER = "timestamp,temperature_c\n"
FILE_PREFIX = "readings-"
DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_MAX_FILES = 20


class ReadingRecorder:
    """A writer of readings to size-rotated CSV files in ``directory``.

    Raises OSError from the constructor when the directory cannot be created, and from
    :meth:`write` when a write fails; the serial reader catches the latter and counts it.
    """

    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES) -> None:
        if max_bytes < len(HEADER) + 1:
            raise ValueError(f"max_bytes must exceed the header size, got {max_bytes}")
        if max_files < 1:
            raise ValueError(f"max_files must be at least 1, got {max_files}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._file: TextIO | None = None
        self._size = 0
        self._sequence = 0

    def write(self, readings: list[Reading]) -> None:
        """Append readings and flush, rotating to a new file whenever the next row would not fit."""
        pending: list[str] = []
        pending_size = 0
        for reading in readings:
            row = f"{reading.timestamp:.6f},{reading.value:.4f}\n"
            if self._file is None or self._size + pending_size + len(row) > self.max_bytes:
                self._write_rows(pending)
                pending, pending_size = [], 0
                # A row longer than max_bytes - header still gets a file of its own.
                if self._file is None or self._size > len(HEADER):
                    self._rotate(reading.timestamp)
            pending.append(row)
            pending_size += len(row)
        self._write_rows(pending)

    def _write_rows(self, rows: list[str]) -> None:
        if not rows or self._file is None:
            return
        text = "".join(rows)
        self._file.write(text)
        self._file.flush()
        self._size += len(text)

    def files(self) -> list[Path]:
        """List the recording files, oldest first."""
        return sorted(self.directory.glob(f"{FILE_PREFIX}*.csv"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _rotate(self, first_timestamp: float) -> None:
        self.close()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(first_timestamp))
        milliseconds = int(first_timestamp * 1000) % 1000
        # All readings of one serial read share a timestamp, so one batch can fill several files
        # in the same millisecond. The counter keeps their names unique and in write order.
        while True:
            self._sequence += 1
            path = self.directory / f"{FILE_PREFIX}{stamp}.{milliseconds:03d}Z-{self._sequence:04d}.csv"
            if not path.exists():
                break
        self._file = open(path, "x", encoding="ascii", newline="")
        self._file.write(HEADER)
        self._size = len(HEADER)
        logger.info("recording readings to %s", path)
        for old in self.files()[: -self.max_files]:
            old.unlink(missing_ok=True)
            logger.info("deleted old recording %s to keep at most %s files", old, self.max_files)
