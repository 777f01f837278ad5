"""Child processes of the demo: started with their own logs, stopped together on the way out."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)


class Supervisor:
    """The processes one demo run started, by name, each in its own process group.

    A process group per child lets ``stop_all`` reach the grandchildren too (``mlflow server``
    forks its own workers), so Ctrl-C leaves nothing listening behind.
    """

    def __init__(self, log_dir: Path, stop_timeout: float = 10.0):
        self.log_dir = log_dir
        self.stop_timeout = stop_timeout
        self._processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        log_path = self.log_path(name)
        with open(log_path, "ab") as log:
            log.write(f"\n--- starting: {' '.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes[name] = process
        logger.info("started %s (pid %s), log in %s", name, process.pid, log_path)
        return process

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def first_exited(self) -> str | None:
        """Return the name of a started process that is no longer running, if any."""
        for name, process in self._processes.items():
            if process.poll() is not None:
                return name
        return None

    def stop_all(self) -> None:
        """Stop the started processes, newest first: SIGTERM to each group, SIGKILL after the timeout."""
        for name, process in reversed(list(self._processes.items())):
            self._signal_group(process, signal.SIGTERM)
        for name, process in reversed(list(self._processes.items())):
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0f s of SIGTERM; killing it", name, self.stop_timeout)
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=self.stop_timeout)
            # Workers forked by the child may outlive it; the group signal above reached them, this
            # makes sure none is left once the leader is gone.
            self._signal_group(process, signal.SIGKILL)
            logger.info("stopped %s (exit code %s)", name, process.returncode)
        self._processes.clear()

    @staticmethod
    def _signal_group(process: subprocess.Popen, signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
