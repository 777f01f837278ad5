"""The Markdown report of one run; the JSON report is the results dictionary itself."""

from __future__ import annotations

from typing import Any

from bench.procs import CLOCK_TICKS
from bench.targets import evaluate


def spread(summary: dict[str, Any] | None, fmt: str = "{:,.1f}", scale: float = 1.0) -> str:
    """Format a summary as ``median (min to max)``, or a dash when it is missing."""
    if not summary:
        return "–"
    median, low, high = (fmt.format(summary[key] * scale) for key in ("median", "min", "max"))
    return median if summary.get("runs", 1) == 1 else f"{median} ({low} to {high})"


def render(results: dict[str, Any]) -> str:
    """Render the results of one run as Markdown."""
    lines: list[str] = []
    add = lines.append
    machine = results.get("machine", {})
    add("# Benchmarks")
    add("")
    add(f"Run `{results.get('command', 'make bench')}` on {results.get('finished_at', '?')} "
        f"({results.get('profile')} profile, {results.get('wall_seconds', 0) / 60:.1f} min). Each figure is the median "
        "of its runs with the minimum and maximum in brackets; each ratio is taken run by run between cells "
        "interleaved in the same sitting, then summarized the same way. Absolute figures drift between runs on a "
        "shared machine; the ratios are the figures to compare. Rerun with `make bench`; the JSON report next to "
        "the Markdown copy in `bench-results/` has every run.")
    add("")
    _machine(add, machine, results)
    _targets(add, results)
    _training(add, results.get("training"), results.get("model"))
    _inprocess(add, results.get("in_process"))
    _http(add, results.get("http"))
    _batch(add, results.get("batch"))
    _swap(add, results.get("swap"))
    _footprint(add, results.get("footprint"), results.get("installed_size"), results.get("http"))
    _serial(add, results.get("serial"))
    _method(add)
    if results.get("errors"):
        add("## Sections that failed")
        add("")
        for name, error in results["errors"].items():
            add(f"- **{name}**: {error}")
        add("")
    return "\n".join(lines)


def _machine(add: Any, machine: dict[str, Any], results: dict[str, Any]) -> None:
    add("## Machine and settings")
    add("")
    add(f"- CPU: {machine.get('cpu_model')}, {machine.get('cores')} cores; memory {machine.get('memory_gib')} GiB; {machine.get('os')}")
    add(f"- Python {machine.get('python')}; " + ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items() if v))
    add(f"- Load generator: {machine.get('wrk')}")
    threads = machine.get("thread_settings", {})
    for key in ("onnxruntime", "agent", "bare_app", "mlflow_models_serve", "scikit_learn", "wrk"):
        if key in threads:
            add(f"- Threads, {key.replace('_', ' ')}: {threads[key]}")
    load = results.get("load_average")
    if load:
        add("- Load average (1, 5, 15 min) at start " + ", ".join(f"{value:.1f}" for value in load["start"])
            + (" and at end " + ", ".join(f"{value:.1f}" for value in load["end"]) if "end" in load else "")
            + f", on {machine.get('cores')} cores: other processes shared the machine during the run")
    pools = ", ".join(f"{p['api']}/{p['library']} {p['threads']} threads" for p in threads.get("threadpools", []))
    env = ", ".join(f"{k}={v}" for k, v in threads.get("environment", {}).items() if v) or "none set"
    add(f"- Thread pools loaded with scikit-learn: {pools or 'none found'}; thread variables: {env}")
    add("")


def _targets(add: Any, results: dict[str, Any]) -> None:
    add("## Targets")
    add("")
    add("| target | measured (median) | result |")
    add("| --- | --- | --- |")
    for row in evaluate(results):
        value = row.get("shown") or "–"
        if row["met"] is None:
            verdict = "not measured"
        elif row["met"]:
            verdict = "met"
        else:
            verdict = row["margin"]
        add(f"| {row['target']} | {value} | {verdict} |")
    add("")


def _training(add: Any, training: dict[str, Any] | None, model: dict[str, Any] | None) -> None:
    if not training:
        return
    add("## Training")
    add("")
    budget = _count(training["budget_trials"], "trial") + (f", {training['budget_seconds']:.0f} s" if training["budget_seconds"] else "")
    add(f"Search on the Seattle data set ({training['data_rows']:,} hourly rows), budget {budget}: "
        f"{_count(training['trials'], 'trial')} in {training['search_seconds']:.1f} s of search, "
        f"{training['wall_seconds']:.1f} s wall time for search, refit, export, checks and registration (one run).")
    add("")
    add("| chosen model | test RMSE °C | naive RMSE °C | RMSE / naive | largest ONNX gap |")
    add("| --- | --- | --- | --- | --- |")
    add(f"| {training['family']}, n_lags {training['n_lags']} | {training['test_rmse']:.3f} | {training['naive_rmse']:.3f} | "
        f"{training['rmse_ratio_to_naive']:.2f} | {training['max_abs_onnx_diff']:.2g} |")
    add("")
    if model:
        add(f"Every HTTP, footprint and swap figure below serves version {model['version']} "
            f"({model['family']}, n_lags {model['n_lags']}, ONNX {model['onnx_bytes']:,} bytes); the swap benchmark "
            f"alternates it with version {training['second_version']} (a one-trial ridge model).")
        add("")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _inprocess(add: Any, rows: list[dict[str, Any]] | None) -> None:
    if not rows:
        return
    add("## In process: ONNX Runtime vs scikit-learn")
    add("")
    add("Each family's default configuration fitted on the same training windows. µs per `predict` call "
        "(scikit-learn, float64) or `InferenceSession.run` (ONNX Runtime, float32, 1 thread).")
    add("")
    add("| family | ONNX size | rows per call | scikit-learn µs | ONNX Runtime µs | scikit-learn / ONNX Runtime |")
    add("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        add(f"| {row['family']} | {row['onnx_bytes']:,} B | {row['batch']:,} | {spread(row['sklearn_us'])} | "
            f"{spread(row['onnx_us'])} | {spread(row['speedup'], '{:.2f}')} |")
    add("")


def _http(add: Any, http: dict[str, Any] | None) -> None:
    if not http:
        return
    add("## HTTP: one forecast per request")
    add("")
    add(f"wrk, keep-alive, {http['seconds_per_run']:.0f} s per run, one history of the model's window per request; "
        "server CPU is the user and system time of the server's process tree during the run, divided by its requests. "
        "The agent is `cps-edge serve` with the model in its store, no registry and no sensor; `mlflow models serve` serves the "
        "same registered version (`--env-manager local`); the bare app is `bench/bare_app.py`.")
    add("")
    add("| server | connections | requests/s | p50 ms | p99 ms | server CPU µs per request | errors |")
    add("| --- | --- | --- | --- | --- | --- | --- |")
    for name, cells in http["cells"].items():
        for connections, cell in cells.items():
            add(f"| {name} | {connections} | {spread(cell['requests_per_second'], '{:,.0f}')} | {spread(cell['p50_ms'], '{:.2f}')} | "
                f"{spread(cell['p99_ms'], '{:.2f}')} | {spread(cell.get('server_cpu_us_per_request'), '{:,.0f}')} | "
                f"{cell['errors']} of {cell['requests']:,} |")
    add("")
    add("| ratio of requests/s | 1 connection | 8 connections |")
    add("| --- | --- | --- |")
    for label, key in (("agent / bare app", "agent_to_bare"), ("agent / mlflow models serve", "agent_to_mlflow")):
        values = http[key]
        add(f"| {label} | {spread(values.get(1) or values.get('1'), '{:.2f}')} | {spread(values.get(8) or values.get('8'), '{:.2f}')} |")
    add("")


def _batch(add: Any, batch: dict[str, Any] | None) -> None:
    add("## Batch endpoint")
    add("")
    if not batch:
        add("Not measured (see the failed sections).")
        add("")
        return
    if not batch["available"]:
        add(f"Missing: `POST /predict/batch` answered {batch['status']}, so the agent has no batch endpoint to measure.")
        add("")
        return
    add(f"`POST /predict/batch` with {batch['batch_size']:,} histories per request.")
    add("")
    add("| connections | requests/s | predictions/s | p50 ms | p99 ms | errors |")
    add("| --- | --- | --- | --- | --- | --- |")
    for connections, cell in batch["cells"].items():
        add(f"| {connections} | {spread(cell['requests_per_second'], '{:,.1f}')} | {spread(cell['predictions_per_second'], '{:,.0f}')} | "
            f"{spread(cell['p50_ms'], '{:.1f}')} | {spread(cell['p99_ms'], '{:.1f}')} | {cell['errors']} |")
    add("")


def _swap(add: Any, swap: dict[str, Any] | None) -> None:
    if not swap:
        return
    add("## Swaps under load")
    add("")
    add(f"wrk with {swap['connections']} connections on `/predict` while a loop moves the alias between two versions and "
        "calls `POST /model/reload`, against runs without swaps, interleaved. The reload loop and the MLflow server "
        "that answers it run on the same cores as the agent and wrk, so part of any drop in throughput is CPU "
        "taken from the agent rather than time lost to the swaps.")
    add("")
    add("| load | requests/s | p99 ms | failed requests |")
    add("| --- | --- | --- | --- |")
    for label, key in (("no swaps", "plain"), ("swapping", "with_swaps")):
        cell = swap[key]
        add(f"| {label} | {spread(cell['requests_per_second'], '{:,.0f}')} | {spread(cell['p99_ms'], '{:.2f}')} | {cell['errors']} of {cell['requests']:,} |")
    add("")
    add(f"Swaps completed: {swap['swaps']}; reload outcomes: {swap['reload_outcomes']}; "
        f"throughput while swapping / without: {spread(swap['throughput_ratio'], '{:.2f}')}.")
    if swap["reload_failures"]:
        add(f"Reload failures (first few): {swap['reload_failures']}")
    add("")


def _footprint(add: Any, footprint: dict[str, Any] | None, installed: dict[str, Any] | None, http: dict[str, Any] | None) -> None:
    add("## Footprint")
    add("")
    if footprint:
        add(f"Each server started and stopped in turn; memory after a short warm-up load. Agent: {footprint['agent_setup']}. "
            "Memory is summed over the process tree (`mlflow models serve` runs uvicorn as a child).")
        add("")
        add("| server | start to ready s | PSS MiB | RSS MiB | idle CPU, % of a core |")
        add("| --- | --- | --- | --- | --- |")
        for name, figures in footprint["servers"].items():
            add(f"| {name} | {spread(figures['ready_s'], '{:.2f}')} | {spread(figures['pss_mib'])} | {spread(figures['rss_mib'])} | "
                f"{spread(figures['idle_core'], '{:.2f}', 100)} |")
        add("")
        for name, ratio in footprint.get("ratios_to_first", {}).items():
            add(f"- {name} / edge agent, run by run: start to ready {spread(ratio['ready_s'], '{:.1f}')}, "
                f"PSS {spread(ratio['pss_mib'], '{:.1f}')}, RSS {spread(ratio['rss_mib'], '{:.1f}')}")
        add("")
    if installed:
        agent, full = installed.get("agent_venv"), installed["full_venv"]
        agent_text = (f"{agent['total_mib']:,.0f} MiB ({agent['without_pip_mib']:,.0f} MiB without pip)" if agent
                      else f"not measured ({installed.get('agent_venv_note')})")
        add(f"Installed size: agent-only venv (`pip install -c constraints.txt ./edge-agent`) {agent_text}; "
            f"the full development venv {full['total_mib']:,.0f} MiB ({full['without_pip_mib']:,.0f} MiB without pip)"
            + (f", {full['without_pip_mib'] / agent['without_pip_mib']:.1f} times the agent's." if agent else "."))
        add("")


def _serial(add: Any, serial: dict[str, Any] | None) -> None:
    if not serial:
        return
    add("## Serial reader")
    add("")
    add("Lines of `NN.NNN` sent through a pseudo-terminal as fast as it takes them; each value encodes its line "
        "number, so a lost or reordered line shows. CPU is the reader thread's own.")
    add("")
    add("| sender | lines per run | lines/s | reader CPU s per 1,000 lines | lost | in order |")
    add("| --- | --- | --- | --- | --- | --- |")
    for mode, cell in serial.items():
        add(f"| {mode} | {cell['lines']:,} | {spread(cell['lines_per_second'], '{:,.0f}')} | "
            f"{spread(cell['cpu_seconds_per_1000_lines'], '{:.4f}')} | {cell['lost']} | {cell['all_in_order']} |")
    add("")


def _method(add: Any) -> None:
    add("## How it is measured, and limits")
    add("")
    for line in (
        "The code is in `bench/`; `python -m bench --smoke` runs every step for about a second, and "
        "`tests/bench/test_bench_smoke.py` runs that in the test suite without checking any timing.",
        "Every server is started by the benchmark on a free 127.0.0.1 port and stopped at the end. wrk runs on the same "
        "machine and takes CPU from the server under test, the same for every server.",
        "Memory and CPU come from `/proc` (`smaps_rollup` and `stat`), so the footprint section needs Linux. CPU time "
        f"is counted in clock ticks of {1000 / CLOCK_TICKS:.0f} ms, so an idle figure of 0.00% means under one tick "
        "in the whole window.",
        "The in-process rows use each family's default configuration, not the search's choice, so that every family "
        "has a row; the HTTP figures use the model the search chose.",
        "Both venv sizes include pip and setuptools; the figure without pip removes only pip.",
    ):
        add(f"- {line}")
    add("")
