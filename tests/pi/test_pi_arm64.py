"""The Raspberry Pi install path on a real arm64 Debian bookworm root, under QEMU user emulation.

One module fixture builds (or reuses) the arm64 root, copies the repository into it and runs
edge-agent/pi/install.sh there twice. The tests then check what the installer left, run
``cps-edge preflight`` and the agent's own tests inside the root, serve forecasts from a simulated
serial sensor to the host, and uninstall. Missing QEMU, binfmt or debootstrap fail the tests
(``.ci/setup-arm64.sh`` installs them). Durations are printed with ``-s``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from arm64_root import Arm64Root, cached_base_rootfs, require_emulation
from support import LOOPBACK, free_port, stop_process, tail

# A cold run builds the root (3 to 9 minutes, depending on load) and installs wheels under emulation.
pytestmark = pytest.mark.timeout(2400)

REPO = Path(__file__).resolve().parents[2]
REPO_INSIDE = "/srv/cyber-physical"
INSTALLER = f"{REPO_INSIDE}/edge-agent/pi/install.sh"
CONFIG = "/etc/cyber-physical-edge/agent.toml"
STATE = "/var/lib/cyber-physical-edge"
VENV_BIN = "/opt/cyber-physical-edge/venv/bin"
SERVICE_USER = "cps-edge"
# Everything the installer creates or edits. The idempotency test compares them between runs.
INSTALLED_PATHS = [
    "/opt/cyber-physical-edge", "/etc/cyber-physical-edge", STATE, "/etc/systemd/system/cps-edge.service",
    "/usr/local/bin/cps-edge", "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow",
]
TIMINGS: dict[str, float] = {}


def snapshot(root: Arm64Root) -> dict[str, tuple]:
    """Record type, mode, owner, mtime and content digest (or link target) of every installed path."""
    entries: dict[str, tuple] = {}
    for top in INSTALLED_PATHS:
        host_top = root.inside(top)
        paths = [host_top] + (sorted(host_top.rglob("*")) if host_top.is_dir() and not host_top.is_symlink() else [])
        for path in paths:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                detail = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                detail = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                detail = ""
            key = "/" + str(path.relative_to(root.path))
            entries[key] = (stat.filemode(info.st_mode), info.st_uid, info.st_gid, info.st_mtime_ns, detail)
    return entries


def copy_repository(root: Arm64Root) -> None:
    """Copy the repository's tracked and new files (not .venv, .git or ignored output) into the root."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True, timeout=60).stdout
    target = root.inside(REPO_INSIDE)
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if not source.is_file():
            continue  # deleted in the working tree but still in the index
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(source.read_bytes())
        destination.chmod(source.stat().st_mode & 0o777)


def run_checked(root: Arm64Root, arguments: list[str], timeout: float = 900, **options) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = root.run(arguments, timeout=timeout, **options)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, (
        f"{' '.join(arguments)} exited with {result.returncode} after {elapsed:.0f} s\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    return result


class Installed:
    def __init__(self, root: Arm64Root, first: subprocess.CompletedProcess, second: subprocess.CompletedProcess,
                 before: dict, after: dict) -> None:
        self.root = root
        self.first = first
        self.second = second
        self.before = before
        self.after = after


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The arm64 root with the agent installed twice by install.sh, as a Pi user would run it."""
    require_emulation()
    base, seconds = cached_base_rootfs()
    TIMINGS["base root (cached or built)"] = seconds
    with Arm64Root(base, tmp_path_factory.mktemp("arm64")) as root:
        architecture = run_checked(root, ["uname", "-m"]).stdout.strip()
        assert architecture == "aarch64", f"uname -m in the root printed {architecture!r}, expected aarch64"
        copy_repository(root)

        started = time.monotonic()
        first = run_checked(root, [INSTALLER], timeout=1500)
        TIMINGS["install.sh, first run"] = time.monotonic() - started
        before = snapshot(root)

        started = time.monotonic()
        second = run_checked(root, [INSTALLER], timeout=300)
        TIMINGS["install.sh, second run"] = time.monotonic() - started
        after = snapshot(root)
        yield Installed(root, first, second, before, after)
    print("\narm64 timings: " + ", ".join(f"{name} {value:.0f} s" for name, value in TIMINGS.items()))


def test_install_creates_user_venv_config_and_unit(installed):
    root = installed.root
    passwd = {line.split(":")[0]: line.split(":") for line in root.inside("/etc/passwd").read_text().splitlines()}
    assert SERVICE_USER in passwd
    dialout = next(line for line in root.inside("/etc/group").read_text().splitlines() if line.startswith("dialout:"))
    assert SERVICE_USER in dialout.split(":")[3].split(",")

    assert root.inside(f"{VENV_BIN}/cps-edge").exists()
    assert os.readlink(root.inside("/usr/local/bin/cps-edge")) == f"{VENV_BIN}/cps-edge"
    unit = root.inside("/etc/systemd/system/cps-edge.service").read_text()
    assert unit == root.inside(f"{REPO_INSIDE}/edge-agent/pi/cps-edge.service").read_text()

    config = root.inside(CONFIG)
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert config.stat().st_gid == int(passwd[SERVICE_USER][3])
    state = root.inside(STATE).stat()
    assert (state.st_uid, stat.S_IMODE(state.st_mode)) == (int(passwd[SERVICE_USER][2]), 0o750)


def test_install_without_systemd_says_so(installed):
    assert "could not enable it" in installed.first.stdout
    assert "systemctl enable --now cps-edge" in installed.first.stdout


def test_second_install_changes_nothing(installed):
    assert "up to date" in installed.second.stdout
    assert "kept /etc/cyber-physical-edge/agent.toml" in installed.second.stdout
    changed = {path for path in installed.before.keys() | installed.after.keys()
               if installed.before.get(path) != installed.after.get(path)}
    assert changed == set()
    assert len(installed.after) > 1000  # the venv with numpy and onnxruntime is part of the comparison


def test_agent_runs_with_installed_config(installed):
    root = installed.root
    result = root.run([f"{VENV_BIN}/python", "-c",
                       "from edge_agent.runtime.config import load_config; import json; "
                       f"print(json.dumps(load_config({CONFIG!r}).masked()))"], user=SERVICE_USER)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["state_dir"] == STATE
    assert (config["host"], config["port"]) == ("127.0.0.1", 8080)


def test_preflight_passes_on_arm64(installed):
    root = installed.root
    started = time.monotonic()
    result = root.run(["cps-edge", "--log-level", "WARNING", "preflight", "--config", CONFIG, "--json"],
                      user=SERVICE_USER, timeout=600)
    TIMINGS["preflight"] = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["architecture"]["message"].startswith("aarch64")
    assert checks["onnxruntime"]["status"] == "ok", checks["onnxruntime"]
    assert "on aarch64" in checks["onnxruntime"]["message"]
    assert checks["state_dir"]["status"] == "ok", checks["state_dir"]
    assert checks["serial_port"]["status"] == "warning"


def test_agent_tests_pass_inside_arm64_root(installed):
    root = installed.root
    # A venv of its own, sharing the installed packages, so that the service's venv stays as installed.
    run_checked(root, [f"{VENV_BIN}/python", "-m", "venv", "--system-site-packages", "/opt/test-venv"])
    pth = root.inside("/opt/test-venv/lib/python3.11/site-packages/agent-venv.pth")
    pth.write_text(f"{VENV_BIN}/../lib/python3.11/site-packages\n")
    # The tests start cps-edge from the folder of the running interpreter.
    root.inside("/opt/test-venv/bin/cps-edge").symlink_to(f"{VENV_BIN}/cps-edge")
    run_checked(root, ["/opt/test-venv/bin/pip", "install", "--quiet", "--only-binary=:all:",
                       "-c", f"{REPO_INSIDE}/constraints.txt", "-r", f"{REPO_INSIDE}/requirements-dev.txt"])
    started = time.monotonic()
    result = root.run(["/opt/test-venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/edge"],
                      cwd=REPO_INSIDE, timeout=1500)
    TIMINGS["tests/edge under emulation"] = time.monotonic() - started
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    print(f"\ntests/edge in the arm64 root: {summary}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def get_json(port: int, method: str, path: str, payload=None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        body = json.dumps(payload).encode() if payload is not None else None
        connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def wait_for(condition, what: str, process: subprocess.Popen, log_path: Path, timeout: float):
    """Poll ``condition`` until it returns a truthy value; fail with the process log on timeout or exit."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the process exited with {process.returncode} before {what}:\n{tail(log_path)}")
        try:
            value = condition()
        except (OSError, http.client.HTTPException, ValueError) as error:
            last_error, value = error, None
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error}):\n{tail(log_path)}")


def test_agent_serves_simulated_sensor_to_host(installed, tmp_path):
    root = installed.root
    # A model from the agent's test fixtures, installed through the agent's own store as the service user.
    seed = ("import sys; sys.path.insert(0, 'tests/edge'); from runtime_helpers import seed_store; "
            f"from edge_agent.runtime.store import ModelStore; seed_store(ModelStore({STATE!r}), {{'1': 'mean12'}})")
    run_checked(root, [f"{VENV_BIN}/python", "-c", seed], user=SERVICE_USER, cwd=REPO_INSIDE)
    readings = root.inside(f"{STATE}/readings.csv")
    readings.write_text("ts,temp\n" + "".join(f"{1_700_000_000 + 60 * i},{20 + (i % 10) * 0.25}\n" for i in range(400)))
    os.chmod(readings, 0o644)

    link = f"{STATE}/sensor.tty"
    simulator_log, agent_log = tmp_path / "simulate.log", tmp_path / "agent.log"
    simulator = root.popen(["cps-edge", "simulate", "--csv", f"{STATE}/readings.csv", "--rate", "20", "--loop",
                            "--link", link], simulator_log, user=SERVICE_USER)
    agent = None
    try:
        wait_for(lambda: root.inside(link).is_symlink(), "the simulator's pseudo-terminal", simulator, simulator_log, 120)
        port = free_port()
        agent = root.popen(["cps-edge", "serve", "--config", CONFIG, "--port", str(port), "--serial-port", link],
                           agent_log, user=SERVICE_USER)
        health = wait_for(lambda: get_json(port, "GET", "/health")[1], "GET /health", agent, agent_log, 180)
        assert health["model_loaded"] is True
        assert health["model_metadata"]["version"] == "1"

        live = wait_for(
            lambda: (lambda status, body: body if status == 200 else None)(*get_json(port, "GET", "/predict/live")),
            "12 sensor readings for GET /predict/live", agent, agent_log, 120,
        )
        assert 20.0 <= live["predicted_temperature"] <= 22.25

        history = [21.0 + 0.1 * index for index in range(12)]
        status, body = get_json(port, "POST", "/predict", {"temperature_history": history})
        assert status == 200, body
        assert body["predicted_temperature"] == pytest.approx(sum(history) / len(history), abs=1e-3)
        assert body["model_used"].startswith("temperature-forecaster v1")
        status, body = get_json(port, "GET", "/health")
        assert body["sensor"]["state"] == "connected", body["sensor"]
    finally:
        if agent is not None:
            stop_process(agent)
        stop_process(simulator)


def test_upgrade_and_uninstall(installed):
    root = installed.root
    marker = root.inside(f"{REPO_INSIDE}/edge-agent/sensor_io/upgrade_marker.py")
    marker.write_text('"""Written by the upgrade test to change the checkout."""\n')

    plain = run_checked(root, [INSTALLER])
    assert "installed from other sources" in plain.stdout
    assert "--upgrade" in plain.stdout
    site = root.inside(f"{VENV_BIN}/../lib/python3.11/site-packages/edge_agent/sensor_io")
    assert not (site / "upgrade_marker.py").exists()

    started = time.monotonic()
    run_checked(root, [INSTALLER, "--upgrade"], timeout=900)
    TIMINGS["install.sh --upgrade"] = time.monotonic() - started
    assert (site / "upgrade_marker.py").exists()

    removed = run_checked(root, [INSTALLER, "--uninstall"])
    assert not root.inside("/opt/cyber-physical-edge").exists()
    assert not root.inside("/etc/systemd/system/cps-edge.service").exists()
    assert root.inside(CONFIG).exists()
    assert root.inside(f"{STATE}/active.json").exists()
    assert "kept" in removed.stdout

    run_checked(root, [INSTALLER, "--uninstall", "--purge"])
    assert not root.inside(CONFIG).exists()
    assert not root.inside(STATE).exists()
    assert f"\n{SERVICE_USER}:" not in "\n" + root.inside("/etc/passwd").read_text()
