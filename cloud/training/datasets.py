"""Data collector: load readings, clean them and write a versioned CSV named by its content hash.

The output is ``temperatures-<hash12>.csv`` with the columns ``timestamp`` (ISO-8601, UTC) and
``temperature_c`` (empty where a long gap was left), plus ``temperatures-<hash12>.json`` with the
full SHA-256, the source, the cleaning counts and summary statistics. Both are written to
temporary files first and renamed into place, so a failure leaves no partial output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cloud.training import cleaning, sources
from cloud.errors import DataError
from cloud.training.defaults import DEFAULT_EXPERIMENT
from cloud.training.sources import TIME_COLUMN, VALUE_COLUMN, load_csv, load_seattle_temps, synthetic_series

logger = logging.getLogger(__name__)

# Re-exported so callers find every collector entry point in this module.
__all__ = [
    "CollectedData", "CollectedSeries", "collect", "clean", "load_csv", "load_seattle_temps",
    "read_collected", "synthetic_series",
]
clean = cleaning.clean

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class CollectedData:
    """Paths, content hash and summary of the data that :func:`collect` wrote."""

    csv_path: Path
    summary_path: Path
    sha256: str
    rows: int
    start: pd.Timestamp
    end: pd.Timestamp
    stats: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None


@dataclass(frozen=True)
class CollectedSeries:
    """A collected CSV read back for training: readings on a fixed interval, NaN in long gaps."""

    frame: pd.DataFrame
    interval_seconds: int
    sha256: str
    path: Path


def collect(
    source: str | Path = "seattle",
    output_dir: Path = Path("data"),
    *,
    time_column: str | None = None,
    value_column: str | None = None,
    unit: str | None = None,
    time_format: str | None = None,
    timezone: str = "UTC",
    interval: str = cleaning.DEFAULT_INTERVAL,
    fill_limit: int = cleaning.DEFAULT_FILL_LIMIT,
    valid_range: tuple[float, float] = cleaning.DEFAULT_VALID_RANGE_C,
    synthetic_days: float = 60,
    seed: int = 0,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
) -> CollectedData:
    """Load ``source``, clean it and write the versioned CSV and its JSON summary to ``output_dir``.

    ``source`` is ``"seattle"`` (the vega_datasets file), ``"synthetic"`` (``synthetic_days`` of
    generated readings with ``seed``), a folder of files written by the agent's serial recorder
    (:func:`sources.load_recordings`) or the path of a CSV read by :func:`load_csv`. When
    ``tracking_uri`` is given, the server is checked first and a run in ``experiment`` logs the
    CSV as its input dataset (``mlflow.data``) and the summary as an artifact.

    Raises DataError (or a subclass) for unreadable or unusable data and
    TrackingServerUnreachableError when the tracking server does not respond.
    """
    if tracking_uri:
        from cloud.registry.connection import check_tracking_server

        check_tracking_server(tracking_uri)

    raw = _load(source, time_column, value_column, unit, time_format, timezone, synthetic_days, seed)
    frame, report = cleaning.clean(raw, interval=interval, fill_limit=fill_limit, valid_range=valid_range)
    interval_seconds = int(pd.Timedelta(interval).total_seconds())
    csv_bytes = _to_csv_bytes(frame)
    digest = content_sha256(csv_bytes)
    stats = _summary(frame, report, raw.attrs.get("source", str(source)), interval_seconds, digest)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"temperatures-{digest[:12]}"
    csv_path = output_dir / f"{stem}.csv"
    summary_path = output_dir / f"{stem}.json"
    _write_atomically({csv_path: csv_bytes, summary_path: json.dumps(stats, indent=2).encode()})
    logger.info("wrote %s (%d rows, %s .. %s, sha256 %s)", csv_path, len(frame), stats["start"], stats["end"], digest[:12])

    run_id = None
    if tracking_uri:
        run_id = _log_dataset(tracking_uri, experiment, frame, csv_path, summary_path, stats)
    return CollectedData(
        csv_path=csv_path,
        summary_path=summary_path,
        sha256=digest,
        rows=len(frame),
        start=frame[TIME_COLUMN].iloc[0],
        end=frame[TIME_COLUMN].iloc[-1],
        stats=stats,
        mlflow_run_id=run_id,
    )


def read_collected(path: str | Path) -> CollectedSeries:
    """Read a CSV written by :func:`collect`, with its interval from the JSON summary next to it.

    Without the summary, the interval is the most common spacing of the timestamps. Raises
    DataError when the file is missing, lacks the two columns, or is not on a fixed interval.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"could not read the collected data {path}: {error}; run `cps-cloud collect` first") from error
    frame = pd.read_csv(path)
    missing = {TIME_COLUMN, VALUE_COLUMN} - set(frame.columns)
    if missing:
        raise DataError(
            f"{path} lacks the columns {sorted(missing)} (has {list(frame.columns)}); "
            "training reads files written by `cps-cloud collect`"
        )
    frame[TIME_COLUMN] = pd.to_datetime(frame[TIME_COLUMN], utc=True)
    frame[VALUE_COLUMN] = pd.to_numeric(frame[VALUE_COLUMN], errors="coerce")

    summary_path = path.with_suffix(".json")
    if summary_path.exists():
        interval_seconds = int(json.loads(summary_path.read_text())["interval_seconds"])
    elif len(frame) > 1:
        interval_seconds = int(frame[TIME_COLUMN].diff().mode().iloc[0].total_seconds())
    else:
        interval_seconds = 0
    steps = frame[TIME_COLUMN].diff().dropna().dt.total_seconds()
    if interval_seconds <= 0 or not (steps == interval_seconds).all():
        raise DataError(
            f"{path} is not on a fixed interval of {interval_seconds} s; clean it with `cps-cloud collect`"
        )
    return CollectedSeries(frame=frame, interval_seconds=interval_seconds, sha256=content_sha256(data), path=path)


def content_sha256(data: bytes) -> str:
    """Return the SHA-256 hex digest that names a collected file."""
    return hashlib.sha256(data).hexdigest()


def _load(
    source: str | Path,
    time_column: str | None,
    value_column: str | None,
    unit: str | None,
    time_format: str | None,
    timezone: str,
    synthetic_days: float,
    seed: int,
) -> pd.DataFrame:
    if str(source) == "seattle":
        return load_seattle_temps()
    if str(source) == "synthetic":
        return synthetic_series(days=synthetic_days, seed=seed)
    if Path(source).is_dir():
        return sources.load_recordings(source)
    return sources.load_csv(source, time_column, value_column, unit, time_format, timezone)


def _to_csv_bytes(frame: pd.DataFrame) -> bytes:
    out = pd.DataFrame(
        {
            TIME_COLUMN: frame[TIME_COLUMN].dt.strftime(TIMESTAMP_FORMAT),
            VALUE_COLUMN: frame[VALUE_COLUMN].round(4),
        }
    )
    return out.to_csv(index=False, lineterminator="\n").encode()


def _summary(
    frame: pd.DataFrame, report: cleaning.CleaningReport, source: str, interval_seconds: int, digest: str
) -> dict[str, Any]:
    values = frame[VALUE_COLUMN]
    return {
        "sha256": digest,
        "source": source,
        "rows": int(len(frame)),
        "missing": int(values.isna().sum()),
        "start": frame[TIME_COLUMN].iloc[0].strftime(TIMESTAMP_FORMAT),
        "end": frame[TIME_COLUMN].iloc[-1].strftime(TIMESTAMP_FORMAT),
        "interval_seconds": interval_seconds,
        "unit": "degC",
        "mean": _finite(values.mean()),
        "std": _finite(values.std()),
        "min": _finite(values.min()),
        "max": _finite(values.max()),
        "cleaning": report.as_dict(),
    }


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def _write_atomically(files: dict[Path, bytes]) -> None:
    """Write every file to a temporary name in its folder, then rename them all into place.

    When a rename fails, the files this call already renamed are removed again, unless a file of
    that name existed before (same content, since names carry the content hash).
    """
    temporary: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for target, content in files.items():
            handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temporary[target] = Path(name)
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
                stream.flush()
                os.fsync(stream.fileno())
        for target, temp_path in temporary.items():
            existed = target.exists()
            os.replace(temp_path, target)
            if not existed:
                placed.append(target)
    except OSError as error:
        for target in placed:
            target.unlink(missing_ok=True)
        raise DataError(f"could not write {', '.join(str(path) for path in files)}: {error}") from error
    finally:
        for temp_path in temporary.values():
            temp_path.unlink(missing_ok=True)


def _log_dataset(
    tracking_uri: str, experiment: str, frame: pd.DataFrame, csv_path: Path, summary_path: Path, stats: dict[str, Any]
) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"collect-{stats['sha256'][:12]}") as run:
        mlflow.log_input(dataset_for_mlflow(frame, csv_path, stats["sha256"]), context="collected")
        mlflow.log_params({"source": stats["source"], "interval_seconds": stats["interval_seconds"]})
        mlflow.log_metrics({"rows": stats["rows"], "missing": stats["missing"]})
        mlflow.log_artifact(str(summary_path))
    logger.info("logged %s as the input dataset of run %s on %s", csv_path.name, run.info.run_id, tracking_uri)
    return run.info.run_id


def dataset_for_mlflow(frame: pd.DataFrame, csv_path: Path, sha256: str):
    """Describe a collected CSV as an ``mlflow.data`` dataset whose digest is its content hash."""
    import mlflow.data

    with warnings.catch_warnings():
        # MLflow 3.17 registers the local-file source class twice and warns that a path is
        # ambiguous. Both candidates are the same class, so either records the same path.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        # Timestamps are logged as the CSV's text: MLflow's schema inference reads tz-aware
        # columns through a pandas API that is deprecated in pandas 3.
        logged = frame.assign(**{TIME_COLUMN: frame[TIME_COLUMN].dt.strftime(TIMESTAMP_FORMAT)})
        return mlflow.data.from_pandas(
            logged, source=str(csv_path.resolve()), name=csv_path.stem, digest=sha256[:12], targets=VALUE_COLUMN
        )
