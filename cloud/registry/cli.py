"""Subcommands ``server``, ``versions``, ``alias``, ``promote`` and ``rollback`` of ``cps-cloud``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from cloud.errors import CloudError
from cloud.registry.connection import DEFAULT_TRACKING_URI, check_tracking_server, resolve_tracking_uri
from cloud.registry.defaults import DEFAULT_ALIAS, DEFAULT_MODEL_NAME
from cloud.registry.server import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_ROOT, DEFAULT_WORKERS, ServerConfig

logger = logging.getLogger(__name__)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the registry subcommands to ``cps-cloud``."""
    server = commands.add_parser("server", help="start an MLflow tracking server with the project's defaults")
    server.add_argument("--host", default=DEFAULT_HOST, help=f"interface to listen on (default: {DEFAULT_HOST})")
    server.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default: {DEFAULT_PORT})")
    server.add_argument(
        "--backend-store-uri",
        help="tracking and registry store, e.g. postgresql://user:pass@host/db "
        "(default: $MLFLOW_BACKEND_STORE_URI, else sqlite:///ROOT/mlflow.db)",
    )
    server.add_argument("--artifacts-destination", help="where proxied artifacts are stored (default: ROOT/artifacts)")
    server.add_argument("--root", type=_path, default=DEFAULT_ROOT, help=f"folder of the default stores (default: ./{DEFAULT_ROOT})")
    server.add_argument(
        "--allowed-hosts",
        help="comma-separated Host headers to accept besides localhost and private IPs, "
        "e.g. 'mlflow,mlflow:5000' for containers (default: $MLFLOW_SERVER_ALLOWED_HOSTS)",
    )
    server.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help=f"worker processes (default: {DEFAULT_WORKERS})")
    server.add_argument("--dry-run", action="store_true", help="print the mlflow command instead of running it")
    server.set_defaults(handler=_run_server)

    versions = commands.add_parser("versions", help="list registered versions with their metrics and aliases")
    _add_registry_options(versions)
    versions.set_defaults(handler=_run_versions)

    alias = commands.add_parser("alias", help="set or delete a registry alias")
    alias_commands = alias.add_subparsers(dest="alias_command", required=True, metavar="ACTION")
    alias_set = alias_commands.add_parser("set", help="point ALIAS at VERSION")
    alias_set.add_argument("alias", metavar="ALIAS")
    alias_set.add_argument("version", metavar="VERSION")
    _add_registry_options(alias_set)
    alias_set.set_defaults(handler=_run_alias_set)
    alias_delete = alias_commands.add_parser("delete", help="remove ALIAS")
    alias_delete.add_argument("alias", metavar="ALIAS")
    _add_registry_options(alias_delete)
    alias_delete.set_defaults(handler=_run_alias_delete)

    promote = commands.add_parser("promote", help="move the alias (default: production) to VERSION")
    promote.add_argument("version", metavar="VERSION")
    _add_registry_options(promote, with_alias=True)
    promote.set_defaults(handler=_run_promote)

    rollback = commands.add_parser("rollback", help="move the alias back to the version it had before")
    _add_registry_options(rollback, with_alias=True)
    rollback.set_defaults(handler=_run_rollback)


def _add_registry_options(parser: argparse.ArgumentParser, with_alias: bool = False) -> None:
    parser.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking server (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})",
    )
    parser.add_argument(
        "--model-name",
        default=os.environ.get("CPS_MODEL_NAME", DEFAULT_MODEL_NAME),
        help=f"registered model (default: $CPS_MODEL_NAME, else {DEFAULT_MODEL_NAME})",
    )
    if with_alias:
        parser.add_argument(
            "--alias",
            default=os.environ.get("CPS_MODEL_ALIAS", DEFAULT_ALIAS),
            help=f"alias that devices follow (default: $CPS_MODEL_ALIAS, else {DEFAULT_ALIAS})",
        )


def _path(text: str):
    from pathlib import Path

    return Path(text)


def _run_server(args: argparse.Namespace) -> int:
    from cloud.registry.server import prepare_root, redact, server_command

    config = ServerConfig(
        host=args.host,
        port=args.port,
        backend_store_uri=args.backend_store_uri,
        artifacts_destination=args.artifacts_destination,
        root=args.root,
        allowed_hosts=args.allowed_hosts,
        workers=args.workers,
    )
    command = server_command(config)
    printable = " ".join(redact(part) for part in command)
    if args.dry_run:
        print(printable)
        return 0
    prepare_root(config)
    logger.info("starting MLflow server on http://%s:%d with store %s", args.host, args.port, redact(config.resolved_backend()))
    logger.info("command: %s", printable)
    # MLflow 3.17 starts seven huey job consumers for its GenAI jobs, which this project does not
    # use; without them the server needs two processes instead of nine and stops in a few seconds.
    # Setting the variable to true turns them back on.
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child process: signals from the terminal or a supervisor reach mlflow directly.
    os.execv(command[0], command)
    return 1  # not reached: execv replaces this process or raises OSError


def _client(args: argparse.Namespace):
    from cloud.registry.versions import make_client

    uri = resolve_tracking_uri(args.tracking_uri)
    check_tracking_server(uri)
    return make_client(uri)


def _guarded(action):
    """Run ``action(args)``; turn a CloudError into a logged message and exit code 1."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return action(args)
        except CloudError as error:
            logger.error("%s", error)
            return 1

    return handler


@_guarded
def _run_versions(args: argparse.Namespace) -> int:
    from cloud.registry.versions import list_versions

    listed = list_versions(_client(args), args.model_name)
    print(f"{'version':>7}  {'aliases':<16} {'family':<14} {'n_lags':>6} {'rmse':>8} {'naive':>8} {'mae':>8} {'r2':>7}  created (UTC)")
    for info in listed:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info.created / 1000))
        print(
            f"{info.version:>7}  {','.join(info.aliases) or '-':<16} {info.tags.get('model_family', '-'):<14} "
            f"{info.tags.get('n_lags', '-'):>6} {_number(info.metrics.get('rmse'))} {_number(info.metrics.get('naive_rmse'))} "
            f"{_number(info.metrics.get('mae'))} {_number(info.metrics.get('r2'), 7)}  {created}"
        )
    if not listed:
        print(f"(model {args.model_name} has no versions)")
    return 0


@_guarded
def _run_alias_set(args: argparse.Namespace) -> int:
    from cloud.registry.aliases import set_alias

    _report(set_alias(_client(args), args.model_name, args.alias, args.version))
    return 0


@_guarded
def _run_alias_delete(args: argparse.Namespace) -> int:
    from cloud.registry.aliases import delete_alias

    _report(delete_alias(_client(args), args.model_name, args.alias))
    return 0


@_guarded
def _run_promote(args: argparse.Namespace) -> int:
    from cloud.registry.aliases import promote

    _report(promote(_client(args), args.model_name, args.alias, args.version))
    return 0


@_guarded
def _run_rollback(args: argparse.Namespace) -> int:
    from cloud.registry.aliases import rollback

    _report(rollback(_client(args), args.model_name, args.alias))
    return 0


def _report(change) -> None:
    print(f"{change.model_name}@{change.alias}: {change.previous or '(unset)'} -> {change.current or '(deleted)'}")


def _number(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.4f}" if value is not None else f"{'-':>{width}}"
