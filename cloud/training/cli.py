"""Subcommands ``collect`` and ``train`` of ``cps-cloud``."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from cloud.errors import CloudError, DataError
from cloud.registry.connection import DEFAULT_TRACKING_URI
from cloud.registry.defaults import DEFAULT_ALIAS, DEFAULT_MODEL_NAME
from cloud.training import defaults

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path("data")


def _quiet_mlflow_urls() -> None:
    # MLflow prints a "View run" URL to stdout for every finished run, which is one per trial.
    # The pipeline logs its runs instead, so stdout keeps only the command's result line.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the data and training subcommands to ``cps-cloud``."""
    families = ",".join(defaults.FAMILY_NAMES)

    collect = commands.add_parser("collect", help="load, clean and version temperature data as a CSV")
    collect.add_argument(
        "source", nargs="?", default="seattle",
        help="'seattle' (hourly 2010 Seattle data from vega_datasets), 'synthetic', a folder of the edge agent's recorder files (readings-*.csv), or a CSV path (default: seattle)",
    )
    collect.add_argument("--output-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder for the CSV and JSON (default: data)")
    collect.add_argument("--time-column", help="name of the timestamp column (default: detected)")
    collect.add_argument("--value-column", help="name of the temperature column (default: detected)")
    collect.add_argument("--unit", choices=["C", "F", "K"], help="unit of the temperature column (default: detected)")
    collect.add_argument("--time-format", help="strptime format of the timestamps, e.g. '%%Y/%%m/%%d %%H:%%M' (default: parsed)")
    collect.add_argument("--timezone", default="UTC", help="zone of timestamps without an offset (default: UTC)")
    collect.add_argument("--interval", default=defaults.DEFAULT_INTERVAL, help="resampling interval, e.g. 1h, 15min (default: 1h)")
    collect.add_argument(
        "--fill-limit", type=int, default=defaults.DEFAULT_FILL_LIMIT,
        help=f"maximum gap, in intervals, filled by interpolation; longer gaps stay empty (default: {defaults.DEFAULT_FILL_LIMIT})",
    )
    low, high = defaults.DEFAULT_VALID_RANGE_C
    collect.add_argument("--min-c", type=float, default=low, help=f"lowest plausible reading in °C (default: {low:g})")
    collect.add_argument("--max-c", type=float, default=high, help=f"highest plausible reading in °C (default: {high:g})")
    collect.add_argument("--days", type=float, default=60, help="length of the synthetic series in days (default: 60)")
    collect.add_argument("--seed", type=int, default=0, help="seed of the synthetic series (default: 0)")
    collect.add_argument(
        "--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="log the dataset to this MLflow server (default: $MLFLOW_TRACKING_URI, else no logging)",
    )
    collect.add_argument("--experiment", default=defaults.DEFAULT_EXPERIMENT, help=f"MLflow experiment (default: {defaults.DEFAULT_EXPERIMENT})")
    collect.set_defaults(handler=_run_collect)

    train = commands.add_parser("train", help="tune forecasters, export to ONNX, verify and register the best")
    train.add_argument(
        "data", nargs="?", type=Path,
        help="CSV written by `cps-cloud collect` (default: the newest data/temperatures-*.csv)",
    )
    train.add_argument("--tracking-uri", help=f"MLflow tracking server (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")
    train.add_argument("--model-name", default=os.environ.get("CPS_MODEL_NAME", DEFAULT_MODEL_NAME),
                       help=f"registered model (default: $CPS_MODEL_NAME, else {DEFAULT_MODEL_NAME})")
    train.add_argument("--alias", default=os.environ.get("CPS_MODEL_ALIAS", DEFAULT_ALIAS),
                       help=f"alias moved to the new version (default: $CPS_MODEL_ALIAS, else {DEFAULT_ALIAS})")
    train.add_argument("--no-alias", action="store_true", help="register the version without moving the alias")
    train.add_argument("--trials", type=int, default=defaults.DEFAULT_TRIALS, help=f"maximum number of trials (default: {defaults.DEFAULT_TRIALS})")
    train.add_argument("--seconds", type=float, default=defaults.DEFAULT_SECONDS,
                       help=f"no new trial starts after this many seconds of search (default: {defaults.DEFAULT_SECONDS:g})")
    train.add_argument("--families", default=families,
                       help=f"comma-separated model families to try (default: {families})")
    train.add_argument("--test-fraction", type=float, default=defaults.DEFAULT_TEST_FRACTION,
                       help=f"share of the latest windows held out for the test (default: {defaults.DEFAULT_TEST_FRACTION})")
    train.add_argument("--cv-splits", type=int, default=defaults.DEFAULT_CV_SPLITS, help=f"TimeSeriesSplit folds (default: {defaults.DEFAULT_CV_SPLITS})")
    train.add_argument("--seed", type=int, default=0, help="random seed of the search and the models (default: 0)")
    train.add_argument("--experiment", default=defaults.DEFAULT_EXPERIMENT, help=f"MLflow experiment (default: {defaults.DEFAULT_EXPERIMENT})")
    train.set_defaults(handler=_run_train)


def _run_collect(args: argparse.Namespace) -> int:
    from cloud.training.datasets import collect

    _quiet_mlflow_urls()
    try:
        collected = collect(
            args.source,
            args.output_dir,
            time_column=args.time_column,
            value_column=args.value_column,
            unit=args.unit,
            time_format=args.time_format,
            timezone=args.timezone,
            interval=args.interval,
            fill_limit=args.fill_limit,
            valid_range=(args.min_c, args.max_c),
            synthetic_days=args.days,
            seed=args.seed,
            tracking_uri=args.tracking_uri,
            experiment=args.experiment,
        )
    except CloudError as error:
        logger.error("%s", error)
        return 1
    print(collected.csv_path)
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from cloud.registry.connection import check_tracking_server, resolve_tracking_uri

    _quiet_mlflow_urls()
    tracking_uri = resolve_tracking_uri(args.tracking_uri)
    try:
        data = args.data or _newest_collected(DEFAULT_DATA_DIR)
        # Checked before the training stack is imported, so a stopped server is reported at once.
        check_tracking_server(tracking_uri)
        from cloud.training.pipeline import train_and_register

        result = train_and_register(
            data,
            tracking_uri,
            model_name=args.model_name,
            alias=None if args.no_alias else args.alias,
            budget_trials=args.trials,
            budget_seconds=args.seconds,
            seed=args.seed,
            families=[name.strip() for name in args.families.split(",") if name.strip()],
            test_fraction=args.test_fraction,
            cv_splits=args.cv_splits,
            experiment=args.experiment,
        )
    except CloudError as error:
        logger.error("%s", error)
        return 1
    print(
        f"version {result.version} ({result.model_family}, n_lags={result.n_lags}): test rmse {result.test_rmse:.4f} °C, "
        f"naive {result.naive_rmse:.4f} °C, max |onnx - sklearn| {result.max_abs_onnx_diff:.2g}, run {result.run_id}"
    )
    return 0


def _newest_collected(folder: Path) -> Path:
    candidates = sorted(folder.glob("temperatures-*.csv"), key=lambda path: path.stat().st_mtime)
    if not candidates:
        raise DataError(f"no temperatures-*.csv in {folder}/; run `cps-cloud collect` first or pass the CSV path")
    return candidates[-1]
