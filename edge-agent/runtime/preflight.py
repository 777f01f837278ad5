"""``cps-edge preflight``: check that this device can run the agent before it is started as a service.

Each check returns a :class:`CheckResult` with a status of ``ok``, ``warning`` or ``failed`` and,
unless it passed, what to do. Only ``failed`` makes the command exit with 1: a warning (no sensor
or no registry configured) describes a setup the agent supports.

ONNX Runtime is imported and run in a child process, never in this one. A wheel built for a newer
Arm core than the board's dies with SIGILL (illegal instruction) on import or on the first
inference, and under systemd that looks like an endless restart loop. In a child the signal becomes
a message that names it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

OK = "ok"
WARNING = "warning"
FAILED = "failed"

MIN_PYTHON = (3, 11)
REGISTRY_TIMEOUT_SECONDS = 3.0
PROBE_TIMEOUT_SECONDS = 120.0  # an estimate: the import takes several seconds under QEMU emulation, more on a busy board

# Architectures that have onnxruntime wheels on PyPI. A 32-bit Arm OS (armv7l, armv6l) has none.
SUPPORTED_MACHINES = {"aarch64": "64-bit Arm", "arm64": "64-bit Arm", "x86_64": "64-bit x86", "amd64": "64-bit x86"}
ARM32_MACHINES = {"armv6l", "armv7l", "armv8l"}

# A 99-byte ONNX model, y = x + x with x float32 of shape [1, 2] (opset 13, IR version 8), made with
# onnx.helper and checked with onnx.checker. The agent does not depend on the onnx package, so the
# bytes are embedded here instead of being built at run time.
PROBE_MODEL_BASE64 = (
    "CAgSEmNwcy1lZGdlLXByZWZsaWdodDpFCg4KAXgKAXgSAXkiA0FkZBIJcHJlZmxpZ2h0WhMKAXgSDgoMCAESCAoCCAEKAggC"
    "YhMKAXkSDgoMCAESCAoCCAEKAggCQgQKABAN"
)

# Runs in the child: prints one JSON line, or dies with the signal ONNX Runtime raised.
PROBE_SCRIPT = f"""
import base64, json, platform
import numpy
import onnxruntime
model = base64.b64decode("{PROBE_MODEL_BASE64}")
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
(output,) = session.run(None, {{"x": numpy.array([[1.5, -2.0]], dtype=numpy.float32)}})
print(json.dumps({{"version": onnxruntime.__version__, "machine": platform.machine(), "output": output.tolist()}}))
"""
PROBE_EXPECTED_OUTPUT = [[3.0, -4.0]]

SIGNAL_ADVICE = {
    signal.SIGILL: (
        "this CPU lacks an instruction that the installed onnxruntime build uses (typical of an older "
        "Arm core); install an onnxruntime version built for this CPU or run on a newer board"
    ),
    signal.SIGSEGV: "onnxruntime crashed; reinstall it with 'pip install --force-reinstall onnxruntime' and run preflight again",
    signal.SIGBUS: "onnxruntime crashed with a bus error; check the SD card and reinstall onnxruntime",
    signal.SIGKILL: "the child was killed, most likely by the kernel's out-of-memory killer; free memory or add swap",
}


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: its name, ``ok``/``warning``/``failed``, what was found and what to do."""

    name: str
    status: str
    message: str
    advice: str = ""


def check_architecture(machine: str | None = None) -> CheckResult:
    """Check the CPU architecture against the ones that have onnxruntime wheels."""
    machine = machine or platform.machine()
    key = machine.lower()
    if key in SUPPORTED_MACHINES:
        return CheckResult("architecture", OK, f"{machine} ({SUPPORTED_MACHINES[key]})")
    if key in ARM32_MACHINES:
        return CheckResult(
            "architecture", FAILED, f"{machine} is a 32-bit Arm system; PyPI has no onnxruntime wheels for it",
            "install the 64-bit Raspberry Pi OS (bookworm) and run the installer again",
        )
    return CheckResult(
        "architecture", WARNING, f"{machine} is neither aarch64 nor x86_64; onnxruntime wheels may not exist for it",
        "check https://pypi.org/project/onnxruntime/#files for a wheel matching this architecture",
    )


def check_python(version: Sequence[int] | None = None) -> CheckResult:
    """Check that the interpreter is at least Python 3.11 (the agent reads its config with tomllib)."""
    version = tuple(version or sys.version_info[:3])
    shown = ".".join(str(part) for part in version)
    if version[:2] >= MIN_PYTHON:
        return CheckResult("python", OK, f"Python {shown} at {sys.executable}")
    return CheckResult(
        "python", FAILED, f"Python {shown}, expected 3.11 or newer",
        "use Raspberry Pi OS bookworm (Python 3.11) or install Python 3.11 and recreate the virtual environment",
    )


def check_serial_port(port: str | None) -> CheckResult:
    """Check that the sensor's device exists, is a character device and is readable and writable.

    A pyserial URL such as ``socket://`` or ``loop://`` is accepted without opening it, because
    opening it here would take the connection from a simulator that allows one reader.
    """
    if not port:
        return CheckResult(
            "serial_port", WARNING, "no serial port configured; the agent serves /predict without a sensor",
            "set serial_port in the config file, preferably a /dev/serial/by-id/ name",
        )
    if "://" in port:
        return CheckResult("serial_port", OK, f"{port} is a pyserial URL (not opened by preflight)")

    path = Path(port)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return CheckResult(
            "serial_port", FAILED, f"{port} does not exist",
            "plug the sensor in and list the ports with 'ls -l /dev/serial/by-id/', then set serial_port to one of them",
        )
    except OSError as error:
        return CheckResult("serial_port", FAILED, f"cannot inspect {port}: {error.strerror}", "check the path and its folder's permissions")
    if not stat.S_ISCHR(mode):
        return CheckResult(
            "serial_port", FAILED, f"{port} is not a character device",
            "set serial_port to the sensor's device, such as a /dev/serial/by-id/ name or /dev/ttyUSB0",
        )
    if not os.access(path, os.R_OK | os.W_OK):
        return CheckResult(
            "serial_port", FAILED, f"{port} is not readable and writable by user {_user_name()}",
            f"add the user to the device's group ({_group_name(path)}): 'sudo usermod -aG dialout {_user_name()}', "
            "then log in again or restart the service",
        )
    return CheckResult("serial_port", OK, f"{port} is a character device, readable and writable", _by_id_advice(path))


def check_registry(registry_url: str | None, timeout: float = REGISTRY_TIMEOUT_SECONDS) -> CheckResult:
    """Check that ``GET <registry_url>/health`` returns 200 within ``timeout`` seconds."""
    if not registry_url:
        return CheckResult(
            "registry", WARNING, "no registry configured; the agent serves the models already in its store",
            "set registry_url (or MLFLOW_TRACKING_URI) to pull models",
        )
    # Imported here because urllib.request loads ssl and email, which slows every cps-edge command.
    import urllib.error
    import urllib.request

    url = registry_url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        return CheckResult(
            "registry", FAILED, f"GET {url} failed: {reason}",
            "check registry_url and that the MLflow server runs and is reachable from this device",
        )
    if status != 200:
        return CheckResult(
            "registry", FAILED, f"GET {url} returned HTTP {status}, expected 200",
            "check that registry_url is the MLflow server's root URL and that the server allows this device's Host header",
        )
    return CheckResult("registry", OK, f"GET {url} returned 200")


def check_state_dir(state_dir: str) -> CheckResult:
    """Check that the model store's folder can be written, by creating and deleting a file in it.

    A missing folder passes when its nearest existing parent is writable, because the agent
    creates it at start.
    """
    path = Path(state_dir)
    if not path.exists():
        parent = next((ancestor for ancestor in path.absolute().parents if ancestor.exists()), Path("/"))
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return CheckResult("state_dir", OK, f"{state_dir} does not exist yet; the agent will create it in {parent}")
        return CheckResult(
            "state_dir", FAILED, f"{state_dir} does not exist and {parent} is not a writable folder",
            f"create it: 'sudo install -d -o {_user_name()} {state_dir}'",
        )
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".preflight-"):
            pass
    except OSError as error:
        return CheckResult(
            "state_dir", FAILED, f"cannot write to {state_dir}: {error.strerror}",
            f"give user {_user_name()} write access: 'sudo chown -R {_user_name()} {state_dir}'",
        )
    return CheckResult("state_dir", OK, f"{state_dir} is writable")


def check_onnxruntime(command: Sequence[str] | None = None, timeout: float = PROBE_TIMEOUT_SECONDS) -> CheckResult:
    """Import ONNX Runtime and run one tiny inference in a child process.

    ``command`` replaces the child's command line; tests pass one that kills itself with a signal.
    A child killed by a signal yields a result that names the signal and what it usually means.
    """
    command = list(command) if command is not None else [sys.executable, "-c", PROBE_SCRIPT]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return CheckResult(
            "onnxruntime", FAILED, f"the import and inference did not finish within {timeout:g} s",
            "check the load with 'top'; on a slow board, run preflight again with a larger --probe-timeout",
        )
    except OSError as error:
        return CheckResult("onnxruntime", FAILED, f"cannot start {command[0]}: {error.strerror}", "reinstall the agent")

    if child.returncode < 0:
        number = -child.returncode
        name = _signal_name(number)
        advice = SIGNAL_ADVICE.get(number, "run the command in the message by hand to see the crash")
        return CheckResult("onnxruntime", FAILED, f"the ONNX Runtime child was killed by signal {number} ({name})", advice)
    if child.returncode != 0:
        return CheckResult(
            "onnxruntime", FAILED, f"the ONNX Runtime child exited with status {child.returncode}: {_last_line(child.stderr)}",
            "reinstall the agent with 'install.sh --upgrade', or 'pip install -c constraints.txt onnxruntime numpy' in its environment",
        )
    try:
        report = json.loads(child.stdout.strip().splitlines()[-1])
        output = report["output"]
    except (IndexError, KeyError, TypeError, ValueError):
        return CheckResult("onnxruntime", FAILED, f"the ONNX Runtime child printed {child.stdout.strip()!r}, expected one JSON line")
    if output != PROBE_EXPECTED_OUTPUT:
        return CheckResult(
            "onnxruntime", FAILED, f"the probe model returned {output}, expected {PROBE_EXPECTED_OUTPUT}",
            "the onnxruntime build computes wrong results on this CPU; install another onnxruntime version",
        )
    return CheckResult("onnxruntime", OK, f"onnxruntime {report.get('version')} ran the probe model on {report.get('machine')}")


def run_checks(config, probe_command: Sequence[str] | None = None, probe_timeout: float = PROBE_TIMEOUT_SECONDS) -> list[CheckResult]:
    """Run every check against an :class:`~edge_agent.runtime.config.AgentConfig`, in a fixed order."""
    return [
        check_architecture(),
        check_python(),
        check_serial_port(config.serial_port),
        check_registry(config.registry_url, timeout=min(REGISTRY_TIMEOUT_SECONDS, config.registry_timeout_seconds)),
        check_state_dir(config.state_dir),
        check_onnxruntime(probe_command, timeout=probe_timeout),
    ]


def format_results(results: Sequence[CheckResult]) -> str:
    """Format one line per check, with the advice after a dash."""
    width = max(len(result.name) for result in results)
    lines = []
    for result in results:
        line = f"{result.status:<8} {result.name:<{width}}  {result.message}"
        if result.advice:
            line += f" - {result.advice}"
        lines.append(line)
    return "\n".join(lines)


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``preflight`` to the ``cps-edge`` subcommands."""
    parser = commands.add_parser(
        "preflight",
        help="check this device before running the agent: CPU, Python, serial port, registry, store, ONNX Runtime",
        description="Check that this device can run the agent with the given settings, one line per check. "
        "Exit status: 0 when no check failed (warnings allowed), 1 when one failed, 2 for an invalid configuration.",
    )
    parser.add_argument("--config", help="TOML config file (env EDGE_AGENT_CONFIG)")
    parser.add_argument("--registry-url", help="MLflow tracking server URL (env MLFLOW_TRACKING_URI)")
    parser.add_argument("--state-dir", help="folder of the model store (default ./edge-state; env EDGE_STATE_DIR)")
    parser.add_argument("--serial-port", help="sensor device path or pyserial URL (env SERIAL_PORT)")
    parser.add_argument("--probe-timeout", type=float, default=PROBE_TIMEOUT_SECONDS,
                        help=f"seconds the ONNX Runtime child may take (default {PROBE_TIMEOUT_SECONDS:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.set_defaults(handler=run_preflight)


def run_preflight(args: argparse.Namespace) -> int:
    """Run the checks and print them; return 0 when none failed, 1 when one did, 2 for a bad config."""
    from edge_agent.runtime.config import ConfigError, load_config

    overrides = {"registry_url": args.registry_url, "state_dir": args.state_dir, "serial_port": args.serial_port}
    try:
        config = load_config(args.config, overrides=overrides)
    except ConfigError as error:
        print(f"cps-edge preflight: invalid configuration: {error}", file=sys.stderr)
        return 2
    results = run_checks(config, probe_timeout=args.probe_timeout)
    failed = any(result.status == FAILED for result in results)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(result) for result in results]}, indent=2))
    else:
        print(format_results(results))
    return 1 if failed else 0


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def _group_name(path: Path) -> str:
    import grp

    gid = path.stat().st_gid
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _by_id_advice(path: Path) -> str:
    """Suggest the /dev/serial/by-id/ name of a device opened by a kernel name such as /dev/ttyUSB0."""
    by_id = Path("/dev/serial/by-id")
    if str(path).startswith(str(by_id)) or not by_id.is_dir():
        return ""
    target = path.resolve()
    for link in sorted(by_id.iterdir()):
        if link.resolve() == target:
            return f"{link} names the same device and survives re-plugging; prefer it"
    return ""
