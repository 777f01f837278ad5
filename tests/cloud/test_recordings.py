"""Readings recorded by the edge agent's serial reader come back as training data through collect."""

from __future__ import annotations

import time

import pytest

from cloud.errors import DataError
from cloud.training.datasets import collect, read_collected
from cloud.training.sources import load_recordings
from edge_agent.sensor_io.reader import SerialReader
from edge_agent.sensor_io.simulator import start_simulator


def test_collect_reads_recorder_files(tmp_path):
    source = tmp_path / "source.csv"
    source.write_text("timestamp,temperature_c\n" + "".join(f"{1_700_000_000 + 3600 * i},{10 + i % 5}.5\n" for i in range(400)))
    recordings = tmp_path / "recordings"
    simulator = start_simulator(csv_path=str(source), unit="C", rate=2000.0, max_lines=300)
    reader = SerialReader(simulator.address, recording_dir=str(recordings), recording_max_bytes=2000, recording_max_files=50)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while reader.status()["readings"] < 250 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        reader.stop()
        simulator.stop()
    recorded = reader.status()["readings"]
    assert recorded >= 250
    assert len(list(recordings.glob("readings-*.csv"))) > 1  # rotated by size

    loaded = load_recordings(recordings)
    assert len(loaded) == recorded
    assert set(loaded["temperature_c"]) <= {10.5, 11.5, 12.5, 13.5, 14.5}
    assert loaded["timestamp"].is_monotonic_increasing

    data = collect(recordings, output_dir=tmp_path / "data", interval="1s")

    series = read_collected(data.csv_path)
    assert series.frame["temperature_c"].between(10.5, 14.5).all()
    assert data.stats["source"].startswith("recordings:")


def test_collect_rejects_folder_without_recordings(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")

    with pytest.raises(DataError, match=r"no recorder files \(readings-\*\.csv\)"):
        collect(tmp_path, output_dir=tmp_path / "data")


def test_collect_rejects_foreign_columns(tmp_path):
    (tmp_path / "readings-20260101T000000Z-0.csv").write_text("time,temp\n1,2\n")

    with pytest.raises(DataError, match="expected timestamp,temperature_c"):
        collect(tmp_path, output_dir=tmp_path / "data")
