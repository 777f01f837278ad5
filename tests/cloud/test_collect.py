"""The collector's versioned output: content-hash names, summary JSON, atomic writes, MLflow input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow import MlflowClient

from cloud.errors import DataError, MissingColumnError
from cloud.training.datasets import collect, content_sha256, read_collected


def test_collect_names_files_by_hash(tmp_path):
    collected = collect("synthetic", tmp_path, synthetic_days=5, seed=1)

    data = collected.csv_path.read_bytes()
    assert collected.sha256 == content_sha256(data)
    assert collected.csv_path.name == f"temperatures-{collected.sha256[:12]}.csv"
    assert collected.summary_path.name == f"temperatures-{collected.sha256[:12]}.json"
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([collected.csv_path.name, collected.summary_path.name])


def test_collect_csv_format(tmp_path):
    collected = collect("synthetic", tmp_path, synthetic_days=5, seed=1)
    lines = collected.csv_path.read_text().splitlines()

    assert lines[0] == "timestamp,temperature_c"
    assert lines[1].startswith("2024-01-01T00:00:00Z,")
    assert len(lines) == 1 + collected.rows


def test_collect_summary_has_hash_and_stats(tmp_path):
    collected = collect("synthetic", tmp_path, synthetic_days=5, seed=1)
    summary = json.loads(collected.summary_path.read_text())

    assert summary["sha256"] == collected.sha256
    assert summary["rows"] == collected.rows == 120
    assert summary["interval_seconds"] == 3600
    assert summary["start"] == "2024-01-01T00:00:00Z"
    assert summary["end"] == "2024-01-05T23:00:00Z"
    assert summary["min"] <= summary["mean"] <= summary["max"]
    assert summary["cleaning"]["rows_in"] + summary["cleaning"]["filled"] == 120
    assert summary["missing"] == 0


def test_collect_same_input_same_hash(tmp_path):
    first = collect("synthetic", tmp_path / "a", synthetic_days=5, seed=1)
    second = collect("synthetic", tmp_path / "b", synthetic_days=5, seed=1)
    third = collect("synthetic", tmp_path / "c", synthetic_days=5, seed=2)
    assert first.sha256 == second.sha256
    assert first.sha256 != third.sha256


def test_collect_reads_csv_source(tmp_path):
    source = tmp_path / "raw.csv"
    source.write_text("when,temp_f\n2024-01-01 00:00,50\n2024-01-01 01:00,59\n2024-01-01 02:00,68\n")
    collected = collect(source, tmp_path / "out")
    frame = read_collected(collected.csv_path).frame
    assert list(frame["temperature_c"].round(4)) == [10.0, 15.0, 20.0]


def test_collect_failure_leaves_no_output(tmp_path):
    source = tmp_path / "raw.csv"
    source.write_text("when,temp_f\n2024-01-01 00:00,50\n")
    output = tmp_path / "out"
    with pytest.raises(MissingColumnError):
        collect(source, output, value_column="temperature")
    assert not output.exists() or not any(output.iterdir())


def test_collect_failed_rename_removes_written_csv(tmp_path):
    reference = collect("synthetic", tmp_path / "reference", synthetic_days=5, seed=1)
    output = tmp_path / "out"
    output.mkdir()
    # A folder where the summary should go makes its rename fail after the CSV is in place.
    (output / reference.summary_path.name).mkdir()
    (output / reference.summary_path.name / "blocker").write_text("x")

    with pytest.raises(DataError, match="could not write"):
        collect("synthetic", output, synthetic_days=5, seed=1)

    assert sorted(path.name for path in output.iterdir()) == [reference.summary_path.name]


def test_read_collected_rejects_irregular_file(tmp_path):
    path = tmp_path / "irregular.csv"
    path.write_text("timestamp,temperature_c\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n2024-01-01T01:30:00Z,3\n2024-01-01T02:30:00Z,3\n")
    with pytest.raises(DataError, match="not on a fixed interval"):
        read_collected(path)


def test_read_collected_missing_file(tmp_path):
    with pytest.raises(DataError, match="cps-cloud collect"):
        read_collected(tmp_path / "absent.csv")


def test_collect_logs_dataset_to_mlflow(tmp_path, mlflow_server):
    collected = collect("synthetic", tmp_path, synthetic_days=5, seed=1, tracking_uri=mlflow_server.url, experiment="collect-test")

    run = MlflowClient(mlflow_server.url).get_run(collected.mlflow_run_id)
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == collected.csv_path.stem
    assert inputs[0].dataset.digest == collected.sha256[:12]
    assert str(collected.csv_path.resolve()) in inputs[0].dataset.source
    assert run.data.metrics["rows"] == collected.rows
    assert pd.Timestamp(collected.start) == pd.Timestamp("2024-01-01T00:00:00Z")
