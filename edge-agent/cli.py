"""The ``cps-edge`` command: one entry point for everything that runs on the device."""

from __future__ import annotations

import argparse
import logging
import sys

from edge_agent import __version__
from edge_agent.runtime import cli as runtime_cli
from edge_agent.sensor_io import cli as sensor_cli

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    """Send every ``edge_agent.*`` logger to standard error, once, at the given level."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cps-edge",
        description="Edge agent: serial sensor reader, ONNX Runtime forecasts, model pulls from an MLflow registry.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="minimum log level to print (default: INFO)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runtime_cli.add_commands(commands)
    sensor_cli.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
