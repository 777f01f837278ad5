"""The ``cps-cloud`` command: one entry point for data, training, the registry and the local demo."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from cloud import __version__

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Send the project's loggers to standard error at ``level`` and keep library chatter at WARNING."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stderr)
    for name in ("cloud", "edge_agent"):
        logging.getLogger(name).setLevel(level.upper())


def build_parser() -> argparse.ArgumentParser:
    # Subcommand modules are imported here, not at the top, so that `cps-cloud --help` stays fast.
    from cloud import demo
    from cloud.registry import cli as registry_cli
    from cloud.training import cli as training_cli

    parser = argparse.ArgumentParser(
        prog="cps-cloud",
        description="Cloud side: collect temperature data, tune forecasters, publish verified ONNX models to MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="minimum log level to print (default: INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training_cli.add_commands(commands)
    registry_cli.add_commands(commands)
    demo.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    # MLflow prints two links per finished run to stdout; with a child run per trial they would
    # bury the search's progress lines. The runs stay one click away in the dashboard.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
