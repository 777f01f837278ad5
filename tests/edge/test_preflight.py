"""``cps-edge preflight``: every check passing and failing against real files, ports and processes.

Permission failures need a user whom the file mode stops, and root bypasses it. So under root the
check runs in a child process as ``nobody``, and under another user it runs in this process on a
file with mode 000.
"""

from __future__ import annotations

import http.server
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from support import LOOPBACK, command_path, free_port
from edge_agent.runtime import preflight
from edge_agent.runtime.preflight import FAILED, OK, WARNING

IS_ROOT = os.getuid() == 0


def interpreter_for_nobody() -> str:
    """Find a Python that user ``nobody`` can run, because a venv under /root links to one it cannot."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            subprocess.run([candidate, "-c", "pass"], user="nobody", cwd="/", check=True, capture_output=True, timeout=60)
        except (OSError, subprocess.CalledProcessError):
            continue
        return candidate
    pytest.skip("user nobody can run no Python interpreter here")


def check_as_nobody(function: str, argument: str) -> dict:
    """Run one check function in a child process as user ``nobody`` and return its result.

    The child loads preflight.py by its path, which works because the module imports only the
    standard library, so the interpreter need not have the agent installed.
    """
    code = (
        "import dataclasses, importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('preflight', sys.argv[1])\n"
        "preflight = sys.modules['preflight'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(preflight)\n"
        f"result = preflight.{function}(sys.argv[2])\n"
        "print(json.dumps(dataclasses.asdict(result)))\n"
    )
    child = subprocess.run(
        [interpreter_for_nobody(), "-c", code, preflight.__file__, argument],
        user="nobody", cwd="/", capture_output=True, text=True, timeout=60,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)


@pytest.fixture
def pseudo_terminal():
    """Open a real pseudo-terminal and yield the path of its follower side."""
    leader, follower = pty.openpty()
    try:
        yield os.ttyname(follower)
    finally:
        os.close(follower)
        os.close(leader)


@pytest.mark.parametrize(
    ("machine", "status"),
    [("aarch64", OK), ("x86_64", OK), ("armv7l", FAILED), ("armv6l", FAILED), ("riscv64", WARNING)],
    ids=["arm64", "x86-64", "arm32-v7", "arm32-v6", "riscv"],
)
def test_architecture_by_machine(machine, status):
    result = preflight.check_architecture(machine)
    assert result.status == status
    assert machine in result.message


def test_architecture_of_this_machine_passes():
    assert preflight.check_architecture().status == OK


def test_python_version_passes_and_fails():
    assert preflight.check_python().status == OK
    old = preflight.check_python((3, 9, 2))
    assert old.status == FAILED
    assert "3.9.2" in old.message
    assert "3.11" in old.advice


def test_serial_port_unset_is_a_warning():
    assert preflight.check_serial_port(None).status == WARNING


def test_serial_port_url_is_accepted():
    result = preflight.check_serial_port("socket://127.0.0.1:7777")
    assert result.status == OK
    assert "pyserial URL" in result.message


def test_serial_port_missing_fails(tmp_path):
    missing = tmp_path / "ttyUSB9"
    result = preflight.check_serial_port(str(missing))
    assert result.status == FAILED
    assert str(missing) in result.message
    assert "/dev/serial/by-id" in result.advice


def test_serial_port_regular_file_fails(tmp_path):
    plain = tmp_path / "not-a-device"
    plain.write_text("")
    result = preflight.check_serial_port(str(plain))
    assert result.status == FAILED
    assert "not a character device" in result.message


def test_serial_port_pty_passes(pseudo_terminal):
    result = preflight.check_serial_port(pseudo_terminal)
    assert result.status == OK, result


def test_serial_port_link_to_pty_passes(pseudo_terminal, tmp_path):
    link = tmp_path / "sensor.tty"
    link.symlink_to(pseudo_terminal)
    assert preflight.check_serial_port(str(link)).status == OK


def test_serial_port_without_permission_fails(pseudo_terminal):
    os.chmod(pseudo_terminal, 0o600 if IS_ROOT else 0o000)
    if IS_ROOT:
        result = check_as_nobody("check_serial_port", pseudo_terminal)
    else:
        result = preflight.check_serial_port(pseudo_terminal).__dict__
    assert result["status"] == FAILED
    assert "not readable and writable" in result["message"]
    assert "dialout" in result["advice"]


def test_registry_unset_is_a_warning():
    assert preflight.check_registry(None).status == WARNING


def test_registry_closed_port_fails():
    url = f"http://{LOOPBACK}:{free_port()}"
    result = preflight.check_registry(url, timeout=2)
    assert result.status == FAILED
    assert f"{url}/health" in result.message
    assert "refused" in result.message.lower()


def test_registry_silent_server_times_out():
    # A socket that listens but never accepts: the connection is queued, and no response ever comes.
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        url = f"http://{LOOPBACK}:{listener.getsockname()[1]}"
        result = preflight.check_registry(url, timeout=0.5)
    assert result.status == FAILED
    assert "timed out" in result.message


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (name fixed by http.server)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_registry_answering_503_fails():
    server = http.server.HTTPServer((LOOPBACK, 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = preflight.check_registry(f"http://{LOOPBACK}:{server.server_port}", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == FAILED
    assert "HTTP 503" in result.message


def test_registry_real_mlflow_server_passes(request):
    # The agent's own environment (the arm64 image, the Pi) has no MLflow server to start.
    if not (Path(sys.executable).parent / "mlflow").exists() and shutil.which("mlflow") is None:
        pytest.skip("mlflow is not installed here; the agent-only environment cannot start a registry")
    server = request.getfixturevalue("mlflow_server")
    result = preflight.check_registry(server.url + "/", timeout=5)
    assert result.status == OK, result
    assert result.message == f"GET {server.url}/health returned 200"


def test_state_dir_writable_passes(tmp_path):
    assert preflight.check_state_dir(str(tmp_path)).status == OK
    assert list(tmp_path.iterdir()) == []


def test_state_dir_missing_under_writable_parent_passes(tmp_path):
    result = preflight.check_state_dir(str(tmp_path / "store" / "nested"))
    assert result.status == OK
    assert "will create" in result.message


def test_state_dir_under_a_file_fails(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    result = preflight.check_state_dir(str(blocker / "store"))
    assert result.status == FAILED
    assert "not a writable folder" in result.message


def test_state_dir_read_only_fails():
    folder = Path(tempfile.mkdtemp(prefix="preflight-ro-"))
    try:
        folder.chmod(0o755 if IS_ROOT else 0o555)
        if IS_ROOT:
            result = check_as_nobody("check_state_dir", str(folder))
        else:
            result = preflight.check_state_dir(str(folder)).__dict__
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    assert result["status"] == FAILED
    assert "Permission denied" in result["message"]


def test_onnxruntime_probe_passes():
    result = preflight.check_onnxruntime()
    assert result.status == OK, result
    assert "ran the probe model" in result.message


CHILD_CASES = [
    ("import os, signal; os.kill(os.getpid(), signal.SIGILL)", "SIGILL", "instruction"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV", "reinstall"),
    ("import sys; print('ModuleNotFoundError: No module named onnxruntime', file=sys.stderr); sys.exit(3)", "status 3", "reinstall"),
    ("print('{\"version\": \"x\", \"machine\": \"m\", \"output\": [[0.0, 0.0]]}')", "expected [[3.0, -4.0]]", "wrong results"),
    ("print('hello')", "expected one JSON line", ""),
]


@pytest.mark.parametrize(
    ("code", "in_message", "in_advice"), CHILD_CASES, ids=["sigill", "sigsegv", "exit-status", "wrong-output", "not-json"]
)
def test_onnxruntime_child_failure_is_reported(code, in_message, in_advice):
    result = preflight.check_onnxruntime([sys.executable, "-c", code], timeout=30)
    assert result.status == FAILED
    assert in_message in result.message
    assert in_advice in result.advice


def test_onnxruntime_sigill_names_the_signal():
    result = preflight.check_onnxruntime([sys.executable, "-c", CHILD_CASES[0][0]], timeout=30)
    assert result.message == f"the ONNX Runtime child was killed by signal {int(signal.SIGILL)} (SIGILL)"


def test_onnxruntime_child_timeout_fails():
    result = preflight.check_onnxruntime([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert result.status == FAILED
    assert "within 0.5 s" in result.message


def run_cli(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ if env is None else env)
    for variable in ("MLFLOW_TRACKING_URI", "SERIAL_PORT", "EDGE_STATE_DIR", "EDGE_AGENT_CONFIG"):
        environment.pop(variable, None)
    return subprocess.run(
        [command_path("cps-edge"), "--log-level", "WARNING", "preflight", *arguments],
        capture_output=True, text=True, timeout=300, env=environment,
    )


def test_cli_exits_0_with_warnings_only(tmp_path):
    completed = run_cli("--state-dir", str(tmp_path), "--serial-port", "loop://")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["architecture", "python", "serial_port", "registry", "state_dir", "onnxruntime"]
    assert lines[3].startswith("warning ")


def test_cli_json_exits_1_on_failure(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path}"\nserial_port = "{tmp_path / "ttyUSB0"}"\n')
    registry = f"http://{LOOPBACK}:{free_port()}"
    completed = run_cli("--config", str(config), "--registry-url", registry, "--json")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert report["ok"] is False
    assert statuses == {
        "architecture": OK, "python": OK, "serial_port": FAILED, "registry": FAILED, "state_dir": OK, "onnxruntime": OK,
    }


def test_cli_invalid_config_exits_2(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text("serial_prot = 'typo'\n")
    completed = run_cli("--config", str(config))
    assert completed.returncode == 2
    assert "serial_prot" in completed.stderr
