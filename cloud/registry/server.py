"""The ``mlflow server`` command line with the project's defaults.

Defaults: SQLite at ``./mlruns/mlflow.db``, artifacts proxied by the server from
``./mlruns/artifacts`` (clients and devices fetch them over HTTP and need no storage
credentials), listening on 127.0.0.1:5000. ``MLFLOW_BACKEND_STORE_URI`` or
``--backend-store-uri`` selects another store, for example ``postgresql://user:pass@db/mlflow``
(psycopg2 is installed). ``MLFLOW_SERVER_ALLOWED_HOSTS`` or ``--allowed-hosts`` adds Host headers
the server accepts besides localhost and private IPs, needed when containers or devices reach it
by a name such as ``mlflow:5000``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_ROOT = Path("mlruns")
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class ServerConfig:
    """Settings of one ``mlflow server`` process."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    backend_store_uri: str | None = None  # None: SQLite under ``root``
    artifacts_destination: str | None = None  # None: ``root/artifacts``
    root: Path = DEFAULT_ROOT
    allowed_hosts: str | None = None
    workers: int = DEFAULT_WORKERS

    def resolved_backend(self) -> str:
        """Return the backend store URI: the flag, then MLFLOW_BACKEND_STORE_URI, then SQLite."""
        return (
            self.backend_store_uri
            or os.environ.get("MLFLOW_BACKEND_STORE_URI")
            or f"sqlite:///{(self.root / 'mlflow.db').resolve()}"
        )

    def resolved_artifacts(self) -> str:
        """Return where proxied artifacts are stored."""
        return self.artifacts_destination or str((self.root / "artifacts").resolve())

    def resolved_allowed_hosts(self) -> str | None:
        """Return the extra allowed Host headers: the flag, then MLFLOW_SERVER_ALLOWED_HOSTS."""
        return self.allowed_hosts or os.environ.get("MLFLOW_SERVER_ALLOWED_HOSTS")


def server_command(config: ServerConfig) -> list[str]:
    """Build the ``mlflow server`` argument list for ``config`` (run with this interpreter)."""
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", config.host,
        "--port", str(config.port),
        "--backend-store-uri", config.resolved_backend(),
        "--artifacts-destination", config.resolved_artifacts(),
        "--serve-artifacts",
        "--workers", str(config.workers),
    ]
    allowed = config.resolved_allowed_hosts()
    if allowed:
        command += ["--allowed-hosts", ",".join(expand_allowed_hosts(allowed))]
    return command


def expand_allowed_hosts(extra: str) -> list[str]:
    """Return MLflow's default allowed hosts plus ``extra``, each bare name also with any port.

    ``mlflow server --allowed-hosts`` replaces its default list (localhost and private IPs) and
    compares the Host header exactly, port included, so ``mlflow`` alone would reject both
    ``mlflow:5000`` and local clients. Checked against MLflow 3.17.
    """
    from mlflow.server.security_utils import get_default_allowed_hosts

    hosts = list(get_default_allowed_hosts())
    for name in (part.strip() for part in extra.split(",")):
        if not name:
            continue
        candidates = [name] if ":" in name or name == "*" else [name, f"{name}:*"]
        hosts += [candidate for candidate in candidates if candidate not in hosts]
    return hosts


def redact(uri: str) -> str:
    """Hide the password in a database URI before it is logged."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", uri)


def prepare_root(config: ServerConfig) -> None:
    """Create the folder of the default SQLite file and artifacts so the server can start."""
    if config.resolved_backend().startswith("sqlite:///"):
        Path(config.resolved_backend()[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if "://" not in config.resolved_artifacts():
        Path(config.resolved_artifacts()).mkdir(parents=True, exist_ok=True)
