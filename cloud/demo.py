"""The main job on one machine: train in the cloud, serve at the edge, with embedded defaults.

``cps-cloud demo`` starts an MLflow tracking server with its SQLite file and proxied artifacts
under ``./mlruns``, collects the real Seattle temperatures, and tunes and registers a forecaster.
It then replays the held-out readings through a simulated serial sensor on a pseudo-terminal and
starts the edge agent on that port. Once the agent serves the new version and has enough live
readings, the demo prints what to try and keeps everything running until Ctrl-C. Every process it
starts is stopped on exit. A second run reuses the same store: it registers the next version and
the agent swaps to it.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cloud.errors import CloudError
from cloud.supervisor import Supervisor

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class DemoError(CloudError):
    """The demo could not bring one of its parts up."""


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived: the demo stops what it started, at whatever step it is."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _frame) -> None:
    raise StopRequested(signum)


def add_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="run the whole loop locally: tracking server, training, simulated sensor, edge agent",
        description=(
            "Run the main job on this machine with embedded defaults: an MLflow server on "
            "127.0.0.1 (SQLite store and artifacts under ./mlruns), training on the real Seattle "
            "2010 hourly temperatures, a simulated serial sensor replaying the held-out readings "
            "through a pseudo-terminal, and the edge agent serving on 127.0.0.1. Stops everything "
            "it started on Ctrl-C."
        ),
    )
    parser.add_argument("--workdir", type=Path, default=Path("."), help="folder for mlruns/, data/, logs/ and edge-state/ (default: .)")
    parser.add_argument("--mlflow-port", type=int, default=5000, help="port of the MLflow tracking server (default: 5000)")
    parser.add_argument("--agent-port", type=int, default=int(os.environ.get("PORT", 8080)), help="port of the edge agent (default: $PORT or 8080)")
    parser.add_argument("--rate", type=float, default=2.0, help="serial readings the simulated sensor sends per second (default: 2)")
    parser.add_argument("--trials", type=int, default=None, help="hyperparameter search trials (default: the trainer's default)")
    parser.add_argument("--seconds", type=float, default=None, help="time budget of the search in seconds (default: the trainer's default)")
    parser.add_argument("--model-name", default="temperature-forecaster", help="registered model name (default: temperature-forecaster)")
    parser.add_argument("--alias", default="production", help="alias the agent follows (default: production)")
    parser.add_argument("--exit-when-ready", action="store_true", help="stop everything after the first live forecast instead of waiting for Ctrl-C")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    workdir = args.workdir.resolve()
    for folder in ("mlruns", "data", "logs", "edge-state"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    tracking_uri = f"http://{LOOPBACK}:{args.mlflow_port}"
    agent_url = f"http://{LOOPBACK}:{args.agent_port}"

    supervisor = Supervisor(log_dir=workdir / "logs")
    # Both set explicitly: a shell starts background jobs with SIGINT ignored, and SIGTERM must
    # interrupt a long step such as training, not wait for it to end.
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        check_port_free(args.mlflow_port, "MLflow tracking server", "--mlflow-port")
        check_port_free(args.agent_port, "edge agent", "--agent-port")
        start_tracking_server(supervisor, workdir, args.mlflow_port, tracking_uri)
        result, heldout_csv = train(args, workdir, tracking_uri)
        serial_link = start_sensor(supervisor, workdir, heldout_csv, args.rate)
        start_agent(supervisor, workdir, args, tracking_uri, serial_link)
        wait_for_version(agent_url, result.version, supervisor)
        live = wait_for_live_forecast(agent_url, result.n_lags, args.rate, supervisor)
        print_what_to_try(agent_url, tracking_uri, args, result, live)
        if not args.exit_when_ready:
            wait_until_stopped(supervisor)
        return 0
    except StopRequested as stop:
        print(f"\n{stop}: stopping everything the demo started.", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except CloudError as error:
        logger.error("%s", error)
        print(f"\ndemo failed: {error}\nlogs of the started processes are in {workdir / 'logs'}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()


def check_port_free(port: int, what: str, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The servers set this option too. Connections of an earlier run still in TIME_WAIT then do
        # not count as the port being in use, while a listening socket still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise DemoError(
                f"port {port} on {LOOPBACK} is already in use ({error.strerror}), so the {what} cannot "
                f"listen there; stop what uses it (an earlier demo?) or pass {option} with a free port"
            ) from error


def start_tracking_server(supervisor: Supervisor, workdir: Path, port: int, tracking_uri: str) -> None:
    store = workdir / "mlruns"
    print(f"[1/5] starting the MLflow tracking server on {tracking_uri} (store: {store})", flush=True)
    supervisor.start(
        "mlflow-server",
        [
            sys.executable, "-m", "cloud", "server",
            "--host", LOOPBACK,
            "--port", str(port),
            "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination", str(store / "artifacts"),
        ],
        cwd=workdir,
    )
    wait_until(
        lambda: http_status(f"{tracking_uri}/health") == 200,
        timeout=180,
        what="the MLflow tracking server to answer /health",
        supervisor=supervisor,
    )


def train(args: argparse.Namespace, workdir: Path, tracking_uri: str):
    # The training stack is imported only now: it takes seconds, and `--help` should not wait for it.
    from cloud.training.datasets import collect
    from cloud.training.pipeline import train_and_register

    print("[2/5] collecting the real data set: Seattle 2010 hourly temperatures (vega_datasets)", flush=True)
    data = collect(source="seattle", output_dir=workdir / "data")
    print(f"      {data.rows} readings from {data.start} to {data.end}, saved to {data.csv_path}", flush=True)

    print("[3/5] tuning forecasters; every trial is logged to MLflow", flush=True)
    budget = {}
    if args.trials is not None:
        budget["budget_trials"] = args.trials
    if args.seconds is not None:
        budget["budget_seconds"] = args.seconds
    result = train_and_register(
        data.csv_path,
        tracking_uri=tracking_uri,
        model_name=args.model_name,
        alias=args.alias,
        **budget,
    )
    print(
        f"      best: {result.model_family} with {result.n_lags} lags, test RMSE {result.test_rmse:.3f} °C "
        f"(naive last-value forecast: {result.naive_rmse:.3f} °C), ONNX gap {result.max_abs_onnx_diff:.2e} °C",
        flush=True,
    )
    print(f"      registered {args.model_name} version {result.version} and pointed @{args.alias} at it", flush=True)

    heldout_csv = workdir / "data" / "heldout.csv"
    write_heldout(data.csv_path, result.test_start_iso, heldout_csv)
    return result, heldout_csv


def write_heldout(data_csv: Path, test_start_iso: str, heldout_csv: Path) -> None:
    """Copy the readings from the start of the test period on, which the model never saw in training.

    Both the collected CSV and ``test_start_iso`` write times as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC,
    so comparing the strings compares the times.
    """
    with open(data_csv, newline="") as source, open(heldout_csv, "w", newline="") as target:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=["timestamp", "temperature_c"])
        writer.writeheader()
        for row in reader:
            if row["timestamp"] >= test_start_iso and row["temperature_c"] not in ("", "nan", "NaN"):
                writer.writerow({"timestamp": row["timestamp"], "temperature_c": row["temperature_c"]})


def start_sensor(supervisor: Supervisor, workdir: Path, heldout_csv: Path, rate: float) -> Path:
    link = workdir / "edge-state" / "sensor.tty"
    print(f"[4/5] replaying the held-out readings at {rate:g} per second through a pseudo-terminal ({link})", flush=True)
    # A link left by an earlier run points at a pseudo-terminal that no longer exists.
    link.unlink(missing_ok=True)
    supervisor.start(
        "sensor-simulator",
        [
            sys.executable, "-m", "edge_agent", "simulate",
            "--csv", str(heldout_csv),
            "--value-column", "temperature_c",
            "--unit", "C",
            "--rate", str(rate),
            "--link", str(link),
            "--loop",
        ],
        cwd=workdir,
    )
    wait_until(lambda: link.exists(), timeout=30, what=f"the simulated sensor to create {link}", supervisor=supervisor)
    return link


def start_agent(supervisor: Supervisor, workdir: Path, args: argparse.Namespace, tracking_uri: str, serial_link: Path) -> None:
    agent_url = f"http://{LOOPBACK}:{args.agent_port}"
    print(f"[5/5] starting the edge agent on {agent_url}; it pulls @{args.alias} from the registry over HTTP", flush=True)
    environment = dict(os.environ)
    environment.update(
        MLFLOW_TRACKING_URI=tracking_uri,
        MODEL_NAME=args.model_name,
        MODEL_ALIAS=args.alias,
        PORT=str(args.agent_port),
        HOST=LOOPBACK,
        EDGE_STATE_DIR=str(workdir / "edge-state"),
        SERIAL_PORT=str(serial_link),
    )
    supervisor.start("edge-agent", [sys.executable, "-m", "edge_agent", "serve"], cwd=workdir, env=environment)
    wait_until(
        lambda: http_status(f"{agent_url}/health") == 200,
        timeout=60,
        what="the edge agent to answer /health",
        supervisor=supervisor,
    )


def wait_for_version(agent_url: str, version: str, supervisor: Supervisor) -> None:
    def serves_version() -> bool:
        health = get_json(f"{agent_url}/health")
        metadata = (health or {}).get("model_metadata") or {}
        return str(metadata.get("version")) == str(version)

    wait_until(serves_version, timeout=60, what=f"the edge agent to serve version {version}", supervisor=supervisor)


def wait_for_live_forecast(agent_url: str, n_lags: int, rate: float, supervisor: Supervisor) -> dict:
    print(f"      waiting for {n_lags} serial readings (about {n_lags / rate:.0f} s at {rate:g} per second)", flush=True)
    forecast: dict = {}

    def live_forecast_ready() -> bool:
        body = get_json(f"{agent_url}/predict/live")
        if body and "predicted_temperature" in body:
            forecast.update(body)
            return True
        return False

    wait_until(live_forecast_ready, timeout=max(60.0, 4 * n_lags / rate), what="a forecast from live serial readings", supervisor=supervisor)
    return forecast


def print_what_to_try(agent_url: str, tracking_uri: str, args, result, live: dict) -> None:
    history = [22.5, 23.1, 22.8, 23.3, 22.9, 23.0]
    body = json.dumps({"temperature_history": history})
    prediction = post_json(f"{agent_url}/predict", {"temperature_history": history})
    health = get_json(f"{agent_url}/health")
    used = live.get("readings", [])
    span = f"{len(used)} readings" if used else f"{result.n_lags} readings"
    print(
        f"""
The loop is running: version {result.version} of {args.model_name} ({result.model_family}, {result.n_lags} lags)
was trained here, pulled by the agent over HTTP, and is fed by the simulated serial sensor.

Live forecast from {span} of the serial port: {live.get('predicted_temperature')} °C

Try:
  curl {agent_url}/health
  curl -X POST {agent_url}/predict -H 'Content-Type: application/json' -d '{body}'
  curl -X POST {agent_url}/model/reload
  curl {agent_url}/predict/live
  curl '{agent_url}/readings?limit=5'

/health now returns:
{json.dumps(health, indent=2)}

/predict with the history above returns:
{json.dumps(prediction, indent=2)}

MLflow dashboard: {tracking_uri}   (runs, plots, versions and the @{args.alias} alias)
Logs: {args.workdir.resolve() / 'logs'}
Press Ctrl-C to stop everything.""",
        flush=True,
    )


def wait_until_stopped(supervisor: Supervisor) -> None:
    """Keep the started processes running until a signal arrives or one of them exits."""
    while True:
        time.sleep(1.0)
        failed = supervisor.first_exited()
        if failed is not None:
            raise DemoError(f"{failed} stopped unexpectedly; see its log in {supervisor.log_path(failed)}")


def wait_until(condition, timeout: float, what: str, supervisor: Supervisor) -> None:
    """Poll ``condition`` until it holds; fail early, with the log's tail, if a started process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        failed = supervisor.first_exited()
        if failed is not None:
            raise DemoError(f"{failed} exited while waiting for {what}:\n{supervisor.tail(failed)}")
        if condition():
            return
        time.sleep(0.25)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def post_json(url: str, payload: dict) -> dict | None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"null")
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None
