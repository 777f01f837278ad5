"""Shared helpers of the container tests: the Docker client, build settings and HTTP polling.

The tests need the engine, Compose v2, QEMU and the stand-in base images that
``.ci/setup-docker.sh`` installs. When any of them is missing, the tests fail with a message that
names that script. They do not skip, because CI installs all of it and a missing piece there is a
broken setup.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# The engine's own 20.10 client; the newer client in /usr/local/bin refuses BuildKit without buildx.
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
BASE_IMAGE_REPO = os.environ.get("BASE_IMAGE_REPO", "cps-base/python3-bookworm")
# pip inside the builds trusts the host's CA bundle, which also covers TLS-intercepting proxies.
PIP_CERT_FILE = os.environ.get("PIP_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
SETUP_HINT = "run 'bash .ci/setup-docker.sh' as root first"


def run(args: list[str], timeout: float, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command from the repository root and capture its output as text.

    With ``check``, fail the test with the command's output when it exits non-zero or times out.
    """
    try:
        result = subprocess.run(
            args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(args)} did not finish within {timeout:.0f} s:\n{_text(error.stdout)}\n{_text(error.stderr)}")
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited with {result.returncode}:\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


def _text(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output


def require_docker(platform: str) -> str:
    """Check the engine, Compose and the stand-in base image for ``platform``; return that image.

    Fails the test with what is missing and how to install it.
    """
    if not os.access(DOCKER, os.X_OK):
        pytest.fail(f"Docker client {DOCKER} not found; {SETUP_HINT} (or set DOCKER to another client)")
    info = run([DOCKER, "info", "--format", "{{.ServerVersion}}"], timeout=30, check=False)
    if info.returncode != 0:
        pytest.fail(f"the Docker engine does not respond: {info.stderr.strip()}; {SETUP_HINT}")
    compose = run([DOCKER, "compose", "version", "--short"], timeout=30, check=False)
    if compose.returncode != 0:
        pytest.fail(f"'docker compose' is not available: {compose.stderr.strip()}; {SETUP_HINT}")
    architecture = platform.split("/")[1]
    image = f"{BASE_IMAGE_REPO}:{architecture}"
    found = run([DOCKER, "image", "inspect", "--format", "{{.Architecture}}", image], timeout=30, check=False)
    if found.returncode != 0:
        pytest.fail(f"base image {image} not found; {SETUP_HINT}")
    if found.stdout.strip() != architecture:
        pytest.fail(f"base image {image} is for {found.stdout.strip()}, expected {architecture}; delete it and {SETUP_HINT}")
    if not Path(PIP_CERT_FILE).is_file():
        pytest.fail(f"CA bundle {PIP_CERT_FILE} for pip inside the builds not found; set PIP_CERT_FILE to the host's bundle")
    return image


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """Return the status and body of a GET, also for 4xx and 5xx responses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_post_json(url: str, body: dict[str, Any], timeout: float = 5) -> tuple[int, Any]:
    """POST ``body`` as JSON; return the status and the decoded JSON response."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def poll_json(url: str, accept: Any, timeout: float, interval: float = 1.0) -> Any:
    """GET ``url`` until it returns 200 with a JSON body for which ``accept(body)`` is true.

    Returns that body; fails the test with the last status and body after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last = "no response"
    while time.monotonic() < deadline:
        try:
            status, raw = http_get(url)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = f"no response: {error}"
        else:
            last = f"status {status}: {raw[:800]!r}"
            if status == 200:
                body = json.loads(raw)
                if accept(body):
                    return body
        time.sleep(interval)
    pytest.fail(f"{url} did not return the expected response within {timeout:.0f} s; last: {last}")
