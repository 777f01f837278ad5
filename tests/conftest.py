"""Fixtures that start real servers on free loopback ports and stop them afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support import (
    LOOPBACK,
    MlflowServer,
    as_postgres_user,
    free_port,
    postgres_bin_dir,
    start_mlflow_server,
    stop_process,
    tail,
)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> MlflowServer:
    """A real MLflow tracking server with an SQLite store, shared by the whole test session."""
    server, process = start_mlflow_server(tmp_path_factory.mktemp("mlflow"))
    yield server
    stop_process(process)


@pytest.fixture(scope="session")
def postgres_uri() -> str:
    """A real PostgreSQL server of its own on a free loopback port, with an empty database ``mlflow``."""
    bin_dir = postgres_bin_dir()
    # Not under pytest's tmp_path: its parent folder is private to the user running the tests, so
    # the postgres user could not reach a data folder inside it.
    root = Path(tempfile.mkdtemp(prefix="cps-postgres-"))
    data_dir, socket_dir = root / "data", root / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(socket_dir, "postgres")
    subprocess.run(
        as_postgres_user([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    log_path = root / "postgres.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            as_postgres_user(
                [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", LOOPBACK, "-k", str(socket_dir)]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while subprocess.run(
        [str(bin_dir / "pg_isready"), "-h", LOOPBACK, "-p", str(port)], capture_output=True
    ).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            pytest.fail(f"PostgreSQL did not start:\n{tail(log_path)}")
        time.sleep(0.2)
    subprocess.run(
        [str(bin_dir / "createdb"), "-h", LOOPBACK, "-p", str(port), "-U", "postgres", "mlflow"],
        check=True,
        capture_output=True,
    )
    yield f"postgresql://postgres@{LOOPBACK}:{port}/mlflow"
    stop_process(process)
    shutil.rmtree(root, ignore_errors=True)
