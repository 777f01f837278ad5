"""Readings kept in memory for the forecaster.

Terms:

- *reading*: one timestamped sensor value, in degrees Celsius, stamped with UNIX seconds when it
  arrived.
- *segment*: a run of readings with no disconnect and no gap longer than ``gap_seconds`` between
  neighbours. A *history* (the lag window, oldest first) is only cut from the current segment,
  so no forecast input joins readings from both sides of an outage as if they were adjacent.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

DEFAULT_CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor value: ``timestamp`` in UNIX seconds, ``value`` in degrees Celsius."""

    timestamp: float
    value: float


class ReadingBuffer:
    """A bounded, thread-safe store of the most recent readings, split into segments.

    ``capacity`` readings are kept and the oldest are evicted first. With ``gap_seconds`` set, a
    reading that arrives more than that many seconds after the previous one starts a new
    segment. A reading stamped earlier than its predecessor (the wall clock stepped back) also
    starts one, because its history would not be in time order. :meth:`start_segment` starts one
    explicitly, which the serial reader does on every disconnect.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, gap_seconds: float | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 reading, got {capacity}")
        if gap_seconds is not None and gap_seconds <= 0:
            raise ValueError(f"gap_seconds must be positive or None, got {gap_seconds}")
        self._readings: deque[Reading] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._gap_seconds = gap_seconds
        # Readings appended since the current segment began; may exceed what the deque still holds.
        self._segment_count = 0
        self._segments_started = 0
        self._break_pending = False

    @property
    def capacity(self) -> int:
        return self._readings.maxlen or 0

    @property
    def gap_seconds(self) -> float | None:
        return self._gap_seconds

    def append(self, reading: Reading) -> None:
        """Add one reading, starting a new segment first when it follows a gap or a disconnect."""
        with self._lock:
            self._append_locked(reading)

    def extend(self, readings: list[Reading]) -> None:
        """Add readings in arrival order under one lock, as :meth:`append` would one by one."""
        with self._lock:
            for reading in readings:
                self._append_locked(reading)

    def _append_locked(self, reading: Reading) -> None:
        if self._readings and not self._break_pending:
            previous = self._readings[-1].timestamp
            elapsed = reading.timestamp - previous
            if elapsed < 0 or (self._gap_seconds is not None and elapsed > self._gap_seconds):
                self._break_pending = True
        if self._break_pending or not self._readings:
            self._segment_count = 0
            self._segments_started += 1
            self._break_pending = False
        self._readings.append(reading)
        self._segment_count += 1

    def start_segment(self) -> None:
        """Make the next reading begin a new segment, for example after the port was lost."""
        with self._lock:
            self._break_pending = True

    def segment_length(self) -> int:
        """Count the readings of the current segment still held; 0 after a break until the next reading."""
        with self._lock:
            if self._break_pending:
                return 0
            return min(self._segment_count, len(self._readings))

    def segments_started(self) -> int:
        """Count the segments begun since the buffer was created."""
        with self._lock:
            return self._segments_started

    def latest(self, limit: int) -> list[Reading]:
        """Return up to ``limit`` most recent readings, oldest first, across segment boundaries."""
        if limit <= 0:
            return []
        with self._lock:
            count = min(limit, len(self._readings))
            return [self._readings[index] for index in range(len(self._readings) - count, len(self._readings))]

    def history(self, n: int) -> list[float] | None:
        """Return the last ``n`` values of the current segment, oldest first.

        Returns None when the current segment contains fewer than ``n`` readings, so the caller
        waits or pads explicitly instead of receiving a window that spans a gap.
        """
        if n < 1:
            raise ValueError(f"history length must be at least 1 reading, got {n}")
        with self._lock:
            available = 0 if self._break_pending else min(self._segment_count, len(self._readings))
            if available < n:
                return None
            size = len(self._readings)
            return [self._readings[index].value for index in range(size - n, size)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._readings)
