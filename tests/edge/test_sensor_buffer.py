"""ReadingBuffer: bounded storage, segments across gaps and disconnects, thread safety."""

from __future__ import annotations

import threading

import pytest

from edge_agent.sensor_io.buffer import Reading, ReadingBuffer


def fill(buffer: ReadingBuffer, timestamps: list[float]) -> None:
    for index, timestamp in enumerate(timestamps):
        buffer.append(Reading(timestamp, 20.0 + index))


def test_history_oldest_first():
    buffer = ReadingBuffer()
    fill(buffer, [0, 1, 2, 3])
    assert buffer.history(3) == [21.0, 22.0, 23.0]
    assert buffer.segment_length() == 4


def test_history_none_when_segment_short():
    buffer = ReadingBuffer()
    fill(buffer, [0, 1])
    assert buffer.history(3) is None


@pytest.mark.parametrize(
    ("timestamps", "expected_segment"),
    [
        pytest.param([0, 1, 2, 10, 11], 2, id="gap-longer-than-tolerance"),
        pytest.param([0, 1, 2, 7, 8], 5, id="gap-equal-to-tolerance-kept"),
        pytest.param([0, 1, 2, 1.5, 2.5], 2, id="clock-stepped-back"),
    ],
)
def test_gap_starts_new_segment(timestamps, expected_segment):
    buffer = ReadingBuffer(gap_seconds=5.0)
    fill(buffer, timestamps)
    assert buffer.segment_length() == expected_segment
    assert buffer.history(expected_segment) is not None
    assert buffer.history(expected_segment + 1) is None


def test_no_gap_tolerance_keeps_one_segment():
    buffer = ReadingBuffer()
    fill(buffer, [0, 1000, 5000])
    assert buffer.segment_length() == 3


def test_disconnect_starts_new_segment():
    buffer = ReadingBuffer()
    fill(buffer, [0, 1, 2])
    buffer.start_segment()
    assert buffer.segment_length() == 0
    assert buffer.history(1) is None
    buffer.append(Reading(3, 30.0))
    assert buffer.history(1) == [30.0]
    assert buffer.history(2) is None
    assert buffer.segments_started() == 2


def test_latest_spans_segments():
    buffer = ReadingBuffer(gap_seconds=1.0)
    fill(buffer, [0, 10, 20])
    assert [reading.timestamp for reading in buffer.latest(5)] == [0, 10, 20]
    assert [reading.timestamp for reading in buffer.latest(2)] == [10, 20]
    assert buffer.latest(0) == []


def test_capacity_evicts_oldest():
    buffer = ReadingBuffer(capacity=3)
    fill(buffer, [0, 1, 2, 3, 4])
    assert len(buffer) == 3
    assert buffer.history(3) == [22.0, 23.0, 24.0]
    assert buffer.segment_length() == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param({"capacity": 0}, "capacity", id="zero-capacity"),
        pytest.param({"gap_seconds": 0}, "gap_seconds", id="zero-gap"),
    ],
)
def test_invalid_settings_rejected(arguments, message):
    with pytest.raises(ValueError, match=message):
        ReadingBuffer(**arguments)


def test_history_length_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        ReadingBuffer().history(0)


def test_concurrent_appends_and_reads():
    buffer = ReadingBuffer(capacity=50_000)
    writers = 4
    per_writer = 5_000
    errors: list[BaseException] = []
    done = threading.Event()

    def write(offset: int) -> None:
        for index in range(per_writer):
            buffer.append(Reading(float(offset), float(index)))

    def read() -> None:
        try:
            while not done.is_set():
                window = buffer.history(10)
                assert window is None or len(window) == 10
                buffer.latest(100)
        except BaseException as error:  # reported by the main thread below
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(0,)) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    done.set()
    reader.join(timeout=30)
    assert errors == []
    assert len(buffer) == writers * per_writer
    assert buffer.segment_length() == writers * per_writer
