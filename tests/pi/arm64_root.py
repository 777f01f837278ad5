"""A throwaway Debian bookworm arm64 root that runs programs with chroot under QEMU user emulation.

The base root filesystem is built once with debootstrap (about 3 minutes) and cached under
``CPS_PI_ROOTFS_CACHE`` (default /var/cache/cps-pi-rootfs) in a folder named by
:data:`ROOTFS_VERSION`; change the version to rebuild it. Each test session mounts an overlay on top
of the cached base, so the base stays clean and the session's changes vanish with the overlay.

Programs in the root share the host's network namespace, so a server started inside listens on the
host's 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

# Bump when the packages below change, so that a stale cached root is not reused.
ROOTFS_VERSION = "bookworm-arm64-minbase-python3-v1"
ROOTFS_PACKAGES = "python3,python3-venv,ca-certificates,passwd"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("CPS_PI_ROOTFS_CACHE", "/var/cache/cps-pi-rootfs"))
BINFMT_ENTRY = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_BUNDLE_INSIDE = "/etc/ssl/certs/host-ca-bundle.crt"
SETUP_HINT = "run '.ci/setup-arm64.sh' as root to install qemu-user-static, binfmt-support and debootstrap"


def require_emulation() -> None:
    """Fail (not skip) the calling test when this machine cannot build or run an arm64 root."""
    if os.getuid() != 0:
        pytest.fail(f"the arm64 chroot test needs root for debootstrap, mount and chroot; {SETUP_HINT}")
    if shutil.which("debootstrap") is None:
        pytest.fail(f"debootstrap is not installed; {SETUP_HINT}")
    if not BINFMT_ENTRY.exists():
        pytest.fail(f"{BINFMT_ENTRY} does not exist, so arm64 programs cannot run here; {SETUP_HINT}")
    entry = BINFMT_ENTRY.read_text()
    if not entry.startswith("enabled"):
        pytest.fail(f"binfmt entry qemu-aarch64 is disabled; {SETUP_HINT}")
    if "flags: " not in entry or "F" not in entry.split("flags: ", 1)[1].split("\n", 1)[0]:
        pytest.fail(f"qemu-aarch64 is registered without flag F, so it cannot run inside a chroot; {SETUP_HINT}")


def cached_base_rootfs() -> tuple[Path, float]:
    """Return the cached base root filesystem, building it first if needed, and the seconds that took."""
    base = CACHE / ROOTFS_VERSION
    marker = base / ".cps-rootfs-complete"
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        # Two sessions at once would otherwise both run debootstrap into the same folder.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            partial = CACHE / f"{ROOTFS_VERSION}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            log_path = CACHE / f"{ROOTFS_VERSION}.debootstrap.log"
            with open(log_path, "wb") as log:
                built = subprocess.run(
                    ["debootstrap", "--variant=minbase", "--arch=arm64", f"--include={ROOTFS_PACKAGES}",
                     "bookworm", str(partial), DEBIAN_MIRROR],
                    stdout=log, stderr=subprocess.STDOUT, timeout=1200, check=False,
                )
            if built.returncode != 0:
                pytest.fail(f"debootstrap of the arm64 root failed with status {built.returncode}; see {log_path}")
            for leftover in (partial / "var/cache/apt/archives").glob("*.deb"):
                leftover.unlink()
            (partial / marker.name).write_text(ROOTFS_VERSION + "\n")
            shutil.rmtree(base, ignore_errors=True)
            partial.rename(base)
    return base, time.monotonic() - started


class Arm64Root:
    """An overlay over the cached base, with /proc, /dev and /dev/pts mounted, entered with chroot."""

    def __init__(self, base: Path, work: Path) -> None:
        self.base = base
        self.work = work
        self.path = work / "root"
        self._mounts: list[Path] = []

    def __enter__(self) -> Arm64Root:
        upper, scratch = self.work / "upper", self.work / "overlay-work"
        for folder in (upper, scratch, self.path):
            folder.mkdir(parents=True)
        self._mount(["-t", "overlay", "overlay", "-o", f"lowerdir={self.base},upperdir={upper},workdir={scratch}"], self.path)
        self._mount(["-t", "proc", "proc"], self.path / "proc")
        self._mount(["--bind", "/dev"], self.path / "dev")
        self._mount(["--bind", "/dev/pts"], self.path / "dev/pts")
        pip_cache = CACHE / "pip-cache"
        pip_cache.mkdir(exist_ok=True)
        (self.path / "root/.cache/pip").mkdir(parents=True, exist_ok=True)
        # NOTE: pip keeps its cache here across sessions, but on the CI network it stored only the agent's
        # own built wheel, not the downloads, so each session downloads numpy and onnxruntime again.
        self._mount(["--bind", str(pip_cache)], self.path / "root/.cache/pip")
        shutil.copy(HOST_CA_BUNDLE, self.path / CA_BUNDLE_INSIDE.lstrip("/"))
        shutil.copy("/etc/resolv.conf", self.path / "etc/resolv.conf", follow_symlinks=True)
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _mount(self, arguments: list[str], target: Path) -> None:
        subprocess.run(["mount", *arguments, str(target)], check=True, capture_output=True, timeout=60)
        self._mounts.append(target)

    def close(self) -> None:
        """Unmount everything in reverse order, then delete the overlay's folders.

        Nothing is deleted while a mount remains under the work folder, because deleting through a
        bind mount of /dev would reach the host's devices.
        """
        for target in reversed(self._mounts):
            if subprocess.run(["umount", str(target)], capture_output=True, timeout=60).returncode != 0:
                subprocess.run(["umount", "--lazy", str(target)], capture_output=True, timeout=60)
        self._mounts.clear()
        mounted = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        still = [point for point in mounted if point.startswith(str(self.work))]
        if still:
            raise RuntimeError(f"mounts remain under {self.work}: {still}; not deleting it")
        shutil.rmtree(self.work)

    def inside(self, path: str) -> Path:
        """Map an absolute path inside the root to the host's path."""
        return self.path / path.lstrip("/")

    def environment(self, **extra: str) -> dict[str, str]:
        """Return a clean environment for programs in the root, with pip trusting the host's CA bundle."""
        environment = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "LANG": "C.UTF-8",
            "PIP_CERT": CA_BUNDLE_INSIDE,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        environment.update(extra)
        return environment

    def command(self, arguments: Sequence[str], user: str | None = None) -> list[str]:
        """Return the host command line that runs ``arguments`` in the root, as ``user`` if given."""
        if user is None:
            return ["chroot", str(self.path), *arguments]
        # setpriv executes the program in place (no fork), so signals sent to the process reach it.
        return ["chroot", str(self.path), "setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *arguments]

    def run(self, arguments: Sequence[str], user: str | None = None, timeout: float = 600, cwd: str = "/",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run a program in the root and return its result with the output as text."""
        command = self.command(["sh", "-c", 'cd "$0" && exec "$@"', cwd, *arguments], user)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env or self.environment(), check=False)

    def popen(self, arguments: Sequence[str], log_path: Path, user: str | None = None) -> subprocess.Popen:
        """Start a program in the root in the background, with its output in ``log_path``."""
        with open(log_path, "wb") as log:
            return subprocess.Popen(self.command(arguments, user), stdout=log, stderr=subprocess.STDOUT,
                                    env=self.environment(), cwd="/")
