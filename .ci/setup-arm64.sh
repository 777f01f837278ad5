#!/usr/bin/env bash
# Install what tests/pi/test_pi_arm64.py needs on a Debian 12 x86_64 machine: QEMU user emulation
# for arm64 registered with binfmt_misc, and debootstrap to build the arm64 root filesystem. Every
# step is skipped when its result is already present, so running it again costs about a second.
#
# QEMU comes from bookworm-backports because bookworm's QEMU 7.2 shows the host's x86
# /proc/cpuinfo to arm64 programs, and the cpuinfo library inside onnxruntime 1.32 then crashes
# 'import onnxruntime' with SIGSEGV; QEMU 8.1 and newer emulate an Arm /proc/cpuinfo.
#
# Environment:
#   DEBIAN_MIRROR   mirror for bookworm-backports (default http://deb.debian.org/debian)
set -euo pipefail

DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BACKPORTS=bookworm-backports
QEMU_MIN_MAJOR=8

log() { printf 'setup-arm64: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: apt-get, binfmt_misc and debootstrap need it"

qemu_major_version() {
    /usr/bin/qemu-aarch64-static --version 2>/dev/null | sed -n 's/^qemu-aarch64 version \([0-9]*\).*/\1/p'
}

apt_install() {
    if [ "${APT_UPDATED:-0}" -eq 0 ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v update-binfmts >/dev/null || missing+=(binfmt-support)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

QEMU_REPLACED=0
major=$(qemu_major_version)
if [ -z "$major" ] || [ "$major" -lt "$QEMU_MIN_MAJOR" ]; then
    log "installing qemu-user-static from $BACKPORTS (found version '${major:-none}', need $QEMU_MIN_MAJOR or newer)"
    if ! grep -rqs "$BACKPORTS" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb $DEBIAN_MIRROR $BACKPORTS main" >"/etc/apt/sources.list.d/$BACKPORTS.list"
        APT_UPDATED=0
    fi
    apt_install -t "$BACKPORTS" qemu-user-static
    QEMU_REPLACED=1
fi

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
# Flag F loads the interpreter once at registration, so a replaced QEMU needs a new registration.
if [ "$QEMU_REPLACED" -eq 1 ] && [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --disable qemu-aarch64
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    update-binfmts --enable qemu-aarch64
fi
# Flag F lets a chroot run arm64 programs without a copy of qemu-aarch64-static inside it.
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || die "qemu-aarch64 is registered without flag F; arm64 programs would not start inside a chroot"
log "arm64 emulation enabled with QEMU $(qemu_major_version); debootstrap $(dpkg-query -W -f '${Version}' debootstrap)"
