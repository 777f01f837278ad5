#!/usr/bin/env bash
# Install and start what the tests start or drive themselves, on a Debian 12 machine as root:
# PostgreSQL's server (tests/conftest.py starts its own), wrk (the benchmark's smoke test), QEMU
# user emulation and debootstrap (tests/pi), and a Docker engine with Compose v2 and local base
# images (tests/containers). Each step is skipped when its result is present, so a second run
# takes about a second. `make test` runs this first.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup-test-machine: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "not root on a Debian-like machine, so nothing is installed: the tests under tests/pi and"
    log "tests/containers, and those that start PostgreSQL or wrk, need root and Debian's packages"
    log "(see .ci/setup-arm64.sh and .ci/setup-docker.sh) and fail without them"
    exit 0
fi

missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v wrk >/dev/null || missing+=(wrk)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

bash .ci/setup-arm64.sh
bash .ci/setup-docker.sh
