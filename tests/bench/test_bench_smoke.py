"""The benchmark script still runs end to end: ``python -m bench --smoke`` with every section.

The smoke profile runs each cell for about a second, once, so these checks are about the script
working (servers respond, nothing fails, no line or request is lost), never about timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVERS = {"edge agent", "mlflow models serve", "bare app"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[dict, str]:
    """Run the smoke benchmark once into a temporary folder; return the JSON report and the Markdown."""
    output = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output-dir", str(output)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=280,
    )
    reports = list(output.glob("bench-*.json"))
    failed = json.loads(reports[0].read_text())["errors"] if reports else "no JSON report was written"
    assert completed.returncode == 0, (
        f"benchmark exited with status {completed.returncode}; failed sections: {failed}\n"
        f"{completed.stdout[-6000:]}\n{completed.stderr[-4000:]}"
    )
    (json_path,) = reports
    (markdown_path,) = output.glob("bench-*.md")
    return json.loads(json_path.read_text()), markdown_path.read_text()


def test_smoke_no_failed_section(smoke_run):
    results, _ = smoke_run
    assert results["errors"] == {}
    assert results["profile"] == "smoke"


def test_smoke_machine_described(smoke_run):
    machine = smoke_run[0]["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu_model"]
    assert machine["packages"]["onnxruntime"]
    assert "onnxruntime" in machine["thread_settings"]


def test_smoke_training_figures(smoke_run):
    training = smoke_run[0]["training"]
    assert training["trials"] == 1
    assert training["test_rmse"] > 0
    assert training["naive_rmse"] > 0
    assert training["version"] != training["second_version"]


def test_smoke_in_process_rows(smoke_run):
    rows = smoke_run[0]["in_process"]
    assert {(row["family"], row["batch"]) for row in rows} == {
        (family, batch) for family in ("ridge", "gbm", "random_forest") for batch in (1, 1000)
    }
    for row in rows:
        assert row["sklearn_us"]["median"] > 0
        assert row["onnx_us"]["median"] > 0


def test_smoke_http_cells(smoke_run):
    http = smoke_run[0]["http"]
    assert set(http["cells"]) == SERVERS
    for name, cells in http["cells"].items():
        for connections in ("1", "8"):
            cell = cells[connections]
            assert cell["requests"] > 0, (name, connections)
            assert cell["errors"] == 0, (name, connections, cell)
    assert http["agent_to_bare"]["1"]["median"] > 0


def test_smoke_batch_reported(smoke_run):
    batch = smoke_run[0]["batch"]
    if batch["available"]:
        assert batch["cells"]["1"]["errors"] == 0
        assert batch["cells"]["1"]["predictions_per_second"]["median"] > 0
    else:
        assert batch["status"] in (404, 405)


def test_smoke_swaps_fail_no_request(smoke_run):
    swap = smoke_run[0]["swap"]
    assert swap["swaps"] >= 1
    assert swap["with_swaps"]["errors"] == 0
    assert swap["reload_failures"] == []


def test_smoke_footprint_figures(smoke_run):
    results = smoke_run[0]
    servers = results["footprint"]["servers"]
    assert set(servers) == SERVERS
    for name, figures in servers.items():
        assert figures["ready_s"]["median"] > 0, name
        assert figures["rss_mib"]["median"] > 0, name
    assert servers["edge agent"]["idle_core"] is not None
    assert results["installed_size"]["full_venv"]["total_mib"] > 0


def test_smoke_serial_loses_no_line(smoke_run):
    for mode, cell in smoke_run[0]["serial"].items():
        assert cell["lost"] == 0, mode
        assert cell["all_in_order"], mode


def test_smoke_markdown_sections(smoke_run):
    _, markdown = smoke_run
    for heading in ("## Machine and settings", "## Targets", "## Training", "## In process", "## HTTP",
                    "## Batch endpoint", "## Swaps under load", "## Footprint", "## Serial reader"):
        assert heading in markdown, heading
