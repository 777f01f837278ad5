"""``cps-edge serve`` and ``cps-edge pull``.

ONNX Runtime, Falcon and waitress are imported inside the handlers so that ``cps-edge --help``
and the sensor commands start quickly on a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import json
import sys

from edge_agent.runtime import preflight


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``pull`` and ``preflight`` to the ``cps-edge`` subcommands."""
    serve = commands.add_parser(
        "serve",
        help="serve forecasts over HTTP",
        description="Serve forecasts over HTTP with the active model of the store, reading the sensor if configured. "
        "Settings come from defaults < TOML file < environment < these options.",
    )
    _add_common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; env HOST)")
    serve.add_argument("--port", type=int, help="TCP port to listen on (default 8080; env PORT)")
    serve.add_argument("--threads", type=int, help="waitress worker threads (default 4)")
    serve.add_argument("--max-body-bytes", type=int, help="largest request body accepted, in bytes (default 262144)")
    serve.add_argument("--max-history", type=int, help="max readings accepted in one history (default 1000)")
    serve.add_argument("--max-batch", type=int, help="max histories accepted in one POST /predict/batch (default 1000)")
    serve.add_argument("--pull-on-start", action=argparse.BooleanOptionalAction, default=None,
                       help="pull the alias once at start, in the background (default on when a registry is set; env PULL_ON_START)")
    serve.add_argument("--poll-interval-seconds", type=float,
                       help="pull the alias every this many seconds; 0 turns polling off (default 0)")
    serve.add_argument("--serial-port", help="sensor device path or pyserial URL (env SERIAL_PORT); none runs without a sensor")
    serve.add_argument("--serial-baudrate", type=int, help="sensor baud rate (default 9600)")
    serve.add_argument("--serial-format", help="sensor line format: plain, kv, csv or json (default plain)")
    serve.add_argument("--serial-field", help="field holding the temperature for kv, csv and json lines")
    serve.add_argument("--serial-unit", help="unit the sensor sends: C or F (default C)")
    serve.set_defaults(handler=run_serve)

    pull = commands.add_parser(
        "pull",
        help="pull the model the alias points to into the store, then exit",
        description="Pull the version the alias points to into the store and make it active, without a server. "
        "Exit status: 0 swapped or already active, 1 failed, 2 invalid configuration.",
    )
    _add_common(pull)
    pull.add_argument("--force", action="store_true", help="pull even a version rejected before")
    pull.set_defaults(handler=run_pull)

    preflight.add_command(commands)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (env EDGE_AGENT_CONFIG)")
    parser.add_argument("--registry-url", help="MLflow tracking server URL (env MLFLOW_TRACKING_URI)")
    parser.add_argument("--model-name", help="registered model name (default temperature-forecaster)")
    parser.add_argument("--model-alias", help="alias to follow (default production)")
    parser.add_argument("--state-dir", help="folder of the model store (default ./edge-state; env EDGE_STATE_DIR)")


_OPTION_FIELDS = (
    "registry_url", "model_name", "model_alias", "state_dir", "host", "port", "threads", "max_body_bytes",
    "max_history", "max_batch", "pull_on_start", "poll_interval_seconds", "serial_port", "serial_baudrate", "serial_format", "serial_field",
    "serial_unit",
)


def _load(args: argparse.Namespace):
    from edge_agent.runtime.config import ConfigError, load_config

    overrides = {name: getattr(args, name, None) for name in _OPTION_FIELDS}
    try:
        return load_config(args.config, overrides=overrides)
    except ConfigError as error:
        print(f"cps-edge: invalid configuration: {error}", file=sys.stderr)
        return None


def run_serve(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 2
    from edge_agent.runtime.server import serve

    return serve(config)


def run_pull(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return 2
    from edge_agent.runtime.server import build_agent

    agent = build_agent(config, with_sensor=False)
    agent.updater.recover()
    result = agent.updater.pull(force=args.force)
    print(json.dumps(result.to_dict(), indent=2))
    if result.error is not None:
        print(f"cps-edge pull: {result.error}", file=sys.stderr)
        return 1
    return 0
