"""The benchmark run: every section in order, each failure recorded in the results instead of hidden."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import footprint, inprocess, machine, serial_bench, swap
from bench.http_bench import Target, check_target, compare, run_matrix, summarize_load
from bench.load import ensure_wrk, run_wrk, write_script
from bench.model import ALIAS, MODEL_NAME, fit_family_models, start_tracking_server, train
from bench.procs import BenchError, Server, bench_env, stop_process, tool_path, tree_memory_bytes
from bench.servers import REPO_ROOT, active_bundle, pull_model, start_agent, start_bare_app, start_mlflow_serving
from bench.settings import Profile

logger = logging.getLogger(__name__)

FAMILIES = ["ridge", "gbm", "random_forest"]
BATCH_SIZE = 1000
AGENT, MLFLOW, BARE = "edge agent", "mlflow models serve", "bare app"


class Run:
    """State shared by the sections of one benchmark run."""

    def __init__(self, profile: Profile, work: Path) -> None:
        self.profile = profile
        self.work = work
        self.logs = work / "logs"
        self.results: dict[str, Any] = {"profile": profile.name, "errors": {}}
        self.servers: list[Server] = []
        self.processes: list[subprocess.Popen] = []

    def section(self, name: str, step: Callable[[], Any]) -> Any:
        """Run one section; store its result under ``name``, or its error under ``errors``."""
        print(f"[bench] {name} ...", flush=True)
        started = time.perf_counter()
        try:
            value = step()
        except Exception as error:  # a failed section is reported and the others still run
            self.results["errors"][name] = f"{type(error).__name__}: {error}"
            print(f"[bench] {name} FAILED: {error}\n{traceback.format_exc()}", flush=True)
            return None
        print(f"[bench] {name} done in {time.perf_counter() - started:.1f} s", flush=True)
        if value is not None:
            self.results[name] = value
        return value

    def keep(self, server: Server) -> Server:
        self.servers.append(server)
        return server

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            stop_process(server.process)
        for process in reversed(self.processes):
            stop_process(process)


def run(profile: Profile, work: Path) -> dict[str, Any]:
    """Run every section of the benchmark with ``profile``, writing logs and state under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    state = Run(profile, work)
    started = time.perf_counter()
    # Load from other work on the machine skews every figure, so the report shows it.
    state.results["load_average"] = {"start": list(os.getloadavg())}
    try:
        _run_sections(state)
    finally:
        state.stop_all()
    state.results["load_average"]["end"] = list(os.getloadavg())
    state.results["wall_seconds"] = time.perf_counter() - started
    return state.results


def _run_sections(state: Run) -> None:
    profile, work = state.profile, state.work
    wrk = state.section("wrk", ensure_wrk)
    state.results["machine"] = machine.describe(wrk)
    if wrk is None:
        return

    tracking = state.section("tracking_server", lambda: state.keep(start_tracking_server(work / "mlflow")))
    if tracking is None:
        return
    state.results.pop("tracking_server", None)
    trained = state.section("training_run", lambda: train(tracking.url, work, profile.train_trials, profile.train_seconds))
    if trained is None:
        return
    state.results["training"] = _training_figures(trained, profile)
    state.results.pop("training_run", None)

    def in_process() -> Any:
        models = fit_family_models(trained.data_csv, FAMILIES, max_train_windows=profile.inprocess_train_windows)
        return inprocess.measure(models, profile.inprocess_runs, profile.inprocess_seconds)

    state.section("in_process", in_process)

    state_dir = work / "edge-state"
    version = state.section("pull", lambda: pull_model(tracking.url, state_dir, MODEL_NAME, ALIAS))
    if version is None:
        return
    state.results.pop("pull", None)
    onnx_path, manifest = active_bundle(state_dir)
    history = [round(value, 2) for value in manifest["reference_inputs"][0]]
    n_lags = manifest["n_lags"]
    state.results["model"] = {
        "version": version, "family": manifest["model_family"], "n_lags": n_lags,
        "onnx_bytes": onnx_path.stat().st_size, "params": manifest.get("params", {}),
    }
    agent_body = json.dumps({"temperature_history": history}).encode()
    mlflow_body = json.dumps({"inputs": [history]}).encode()
    starters = {
        AGENT: lambda: start_agent(state_dir, state.logs / "agent.log"),
        MLFLOW: lambda: start_mlflow_serving(tracking.url, MODEL_NAME, version, state.logs / "mlflow-serve.log"),
        BARE: lambda: start_bare_app(onnx_path, state.logs / "bare-app.log"),
    }
    paths = {AGENT: ("/predict", agent_body), MLFLOW: ("/invocations", mlflow_body), BARE: ("/predict", agent_body)}

    state.section("http", lambda: _http(state, wrk, starters, paths))
    state.section("batch", lambda: _batch(state, wrk, state_dir, history))
    state.section("swap", lambda: _swap(state, wrk, tracking.url, state_dir, trained, agent_body))
    state.section("footprint", lambda: _footprint(state, wrk, starters, paths, state_dir))
    state.section("installed_size", lambda: _installed(state))
    state.section("serial", lambda: serial_bench.measure(profile.serial_lines, profile.serial_runs))


def _training_figures(trained: Any, profile: Profile) -> dict[str, Any]:
    first = trained.first
    return {
        "data_rows": trained.rows,
        "budget_trials": profile.train_trials,
        "budget_seconds": profile.train_seconds,
        "trials": first.trials,
        "search_seconds": first.search_seconds,
        "wall_seconds": trained.training_seconds,
        "family": first.model_family,
        "n_lags": first.n_lags,
        "params": first.params,
        "test_rmse": first.test_rmse,
        "naive_rmse": first.naive_rmse,
        "rmse_ratio_to_naive": first.test_rmse / first.naive_rmse,
        "max_abs_onnx_diff": first.max_abs_onnx_diff,
        "version": first.version,
        "second_version": trained.second.version,
    }


def _http(state: Run, wrk: str, starters: dict[str, Callable[[], Server]], paths: dict[str, tuple[str, bytes]]) -> Any:
    servers = {name: state.keep(start()) for name, start in starters.items()}
    try:
        targets = [
            Target(name, servers[name].url + paths[name][0], paths[name][1], servers[name].process.pid) for name in starters
        ]
        checks = {target.name: check_target(target) for target in targets}
        broken = {name: check for name, check in checks.items() if check["status"] != 200}
        if broken:
            raise BenchError(f"a server did not return 200 for the benchmark request: {broken}; see the logs in {state.logs}")
        results = run_matrix(wrk, targets, state.work, state.profile.runs, state.profile.http_seconds)
        memory = {name: tree_memory_bytes(server.process.pid) for name, server in servers.items()}
    finally:
        for server in servers.values():
            stop_process(server.process)
    return {
        "seconds_per_run": state.profile.http_seconds,
        "sample_answers": checks,
        "cells": {name: {c: summarize_load(runs) for c, runs in by_c.items()} for name, by_c in results.items()},
        "agent_to_bare": compare(results, AGENT, BARE),
        "agent_to_mlflow": compare(results, AGENT, MLFLOW),
        "memory_after_load_mib": {name: {k: v / footprint.MIB for k, v in m.items() if k != "processes"} for name, m in memory.items()},
    }


def _batch(state: Run, wrk: str, state_dir: Path, history: list[float]) -> Any:
    server = state.keep(start_agent(state_dir, state.logs / "agent-batch.log"))
    try:
        histories = [[round(value + 0.01 * (row % 50), 2) for value in history] for row in range(BATCH_SIZE)]
        body = json.dumps({"histories": histories}).encode()
        target = Target("agent batch", server.url + "/predict/batch", body, server.process.pid)
        check = check_target(target)
        if check["status"] in (404, 405):
            return {"available": False, "status": check["status"], "answer": check["body"]}
        if check["status"] != 200:
            raise BenchError(f"POST /predict/batch returned {check['status']}, expected 200: {check['body']}; see {server.log_path}")
        results = run_matrix(wrk, [target], state.work, state.profile.runs, state.profile.http_seconds)[target.name]
    finally:
        stop_process(server.process)
    cells = {}
    for connections, runs in results.items():
        cell = summarize_load(runs)
        cell["predictions_per_second"] = {
            key: (value * BATCH_SIZE if key != "runs" else value) for key, value in cell["requests_per_second"].items()
        }
        cells[connections] = cell
    answer = check["body"]
    return {"available": True, "batch_size": BATCH_SIZE, "cells": cells, "answer_keys": sorted(answer) if isinstance(answer, dict) else None}


def _swap(state: Run, wrk: str, tracking_url: str, state_dir: Path, trained: Any, body: bytes) -> Any:
    from mlflow import MlflowClient

    swap_state = state.work / "edge-state-swap"
    shutil.copytree(state_dir, swap_state, dirs_exist_ok=True)
    server = state.keep(start_agent(swap_state, state.logs / "agent-swap.log", registry_url=tracking_url))
    client = MlflowClient(tracking_uri=tracking_url, registry_uri=tracking_url)
    try:
        script = write_script(state.work, "swap", body)
        run_wrk(wrk, server.url + "/predict", script, 1, 1)
        return swap.measure(
            wrk, script, server.url, client, MODEL_NAME, ALIAS, (trained.first.version, trained.second.version),
            state.profile.runs, state.profile.swap_seconds,
        )
    finally:
        stop_process(server.process)


def _footprint(
    state: Run, wrk: str, starters: dict[str, Callable[[], Server]], paths: dict[str, tuple[str, bytes]], state_dir: Path
) -> Any:
    link = state.work / "sensor.tty"
    log_path = state.logs / "simulator.log"
    with open(log_path, "ab") as log:
        simulator = subprocess.Popen(
            [tool_path("cps-edge"), "simulate", "--link", str(link), "--loop"],
            stdout=log, stderr=subprocess.STDOUT, env=bench_env(), start_new_session=True,
        )
    state.processes.append(simulator)
    deadline = time.monotonic() + 30
    while not link.exists() and time.monotonic() < deadline:
        if simulator.poll() is not None:
            raise BenchError(f"`cps-edge simulate` exited with status {simulator.returncode}; see {log_path}")
        time.sleep(0.05)
    if not link.exists():
        raise BenchError(f"`cps-edge simulate` made no pseudo-terminal link at {link} within 30 s; see {log_path}")

    with_sensor = dict(starters)
    with_sensor[AGENT] = lambda: start_agent(state_dir, state.logs / "agent-sensor.log", serial_port=str(link))
    scripts = {name: write_script(state.work, f"warm-{index}", paths[name][1]) for index, name in enumerate(starters)}

    def warm_up(server: Server) -> None:
        run_wrk(wrk, server.url + paths[server.name][0], scripts[server.name], 1, state.profile.warm_up_seconds)

    try:
        figures = footprint.measure_servers(with_sensor, warm_up, state.profile.runs, state.profile.idle_seconds, {AGENT})
    finally:
        stop_process(simulator)
    figures["agent_setup"] = "sensor reader on a `cps-edge simulate` pseudo-terminal (2 lines/s), metrics on"
    return figures


def _installed(state: Run) -> Any:
    agent_venv, note = None, "not created in the smoke profile"
    if state.profile.create_agent_venv:
        agent_venv, note = footprint.agent_venv(state.work.parent / "agent-venv", REPO_ROOT, state.logs / "agent-venv.log")
    sizes = footprint.installed_sizes(agent_venv, REPO_ROOT / ".venv")
    sizes["agent_venv_note"] = note
    return sizes
