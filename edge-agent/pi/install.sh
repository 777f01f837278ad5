#!/usr/bin/env bash
# Install, upgrade or remove the cyber-physical edge agent as a systemd service on a Raspberry Pi
# (64-bit Raspberry Pi OS bookworm) or any Debian-like arm64 or x86_64 system. Run it as root from a
# clone of the repository:
#
#   sudo edge-agent/pi/install.sh [--serial-port PATH] [--registry-url URL]
#   sudo edge-agent/pi/install.sh --upgrade          # reinstall from this checkout, restart
#   sudo edge-agent/pi/install.sh --uninstall [--purge]
#
# What it installs:
#   /opt/cyber-physical-edge/venv          Python virtual environment with the agent (binary wheels only)
#   /usr/local/bin/cps-edge                link to the venv's cps-edge
#   /etc/cyber-physical-edge/agent.toml    settings; written once, never overwritten
#   /var/lib/cyber-physical-edge           model store (state_dir), owned by the service user
#   /etc/systemd/system/cps-edge.service   the unit, enabled and started when systemd runs
#   user cps-edge                          system user in the dialout group, which owns serial ports
#
# Running it again changes nothing unless this checkout differs from the installed one and
# --upgrade is given. --uninstall keeps the settings and the model store; --purge removes them too,
# with the user.
#
# Environment:
#   CPS_PREFIX   install under this root instead of / (tests); the user is then added to
#                $CPS_PREFIX/etc/passwd and systemd is not called
#   CPS_PYTHON   interpreter that creates the venv (default python3, 3.11 or newer)
#   PIP_CERT, PIP_INDEX_URL and other PIP_* variables reach pip unchanged
set -euo pipefail

PREFIX=${CPS_PREFIX:-}
PYTHON=${CPS_PYTHON:-python3}
APP_DIR=$PREFIX/opt/cyber-physical-edge
VENV=$APP_DIR/venv
STAMP=$APP_DIR/installed-source.sha256
CONFIG_DIR=$PREFIX/etc/cyber-physical-edge
CONFIG_FILE=$CONFIG_DIR/agent.toml
STATE_DIR=$PREFIX/var/lib/cyber-physical-edge
UNIT_NAME=cps-edge.service
UNIT_FILE=$PREFIX/etc/systemd/system/$UNIT_NAME
BIN_LINK=$PREFIX/usr/local/bin/cps-edge
SERVICE_USER=cps-edge
SERIAL_GROUP=dialout

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

log() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

MODE=install
PURGE=0
SERIAL_PORT=
REGISTRY_URL=
while [ $# -gt 0 ]; do
    case $1 in
        --upgrade) MODE=upgrade ;;
        --uninstall) MODE=uninstall ;;
        --purge) PURGE=1 ;;
        --serial-port) [ $# -ge 2 ] || die "--serial-port needs a path"; SERIAL_PORT=$2; shift ;;
        --registry-url) [ $# -ge 2 ] || die "--registry-url needs a URL"; REGISTRY_URL=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1'; run '$0 --help' for the options" ;;
    esac
    shift
done
[ "$PURGE" -eq 0 ] || [ "$MODE" = uninstall ] || die "--purge only goes with --uninstall"

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 $*"

systemd_running() {
    # Same test as sd_booted(3): a system booted with systemd has the folder /run/systemd/system.
    [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null
}

# --- the service user -------------------------------------------------------------------------

passwd_field() {  # user field-number: print one field of the user's passwd entry, or nothing
    if [ -n "$PREFIX" ]; then
        awk -F: -v user="$1" -v field="$2" '$1 == user { print $field }' "$PREFIX/etc/passwd"
    else
        getent passwd "$1" | cut -d: -f"$2"
    fi
}

group_members() {
    if [ -n "$PREFIX" ]; then
        awk -F: -v group="$1" '$1 == group { print $4 }' "$PREFIX/etc/group"
    else
        getent group "$1" | cut -d: -f4
    fi
}

ensure_user() {
    local prefix_option=()
    [ -z "$PREFIX" ] || prefix_option=(--prefix "$PREFIX")
    if [ -z "$(passwd_field "$SERVICE_USER" 1)" ]; then
        if [ -z "$(awk -F: -v group="$SERIAL_GROUP" '$1 == group' "$PREFIX/etc/group")" ]; then
            groupadd "${prefix_option[@]}" --system "$SERIAL_GROUP"
        fi
        useradd "${prefix_option[@]}" --system --user-group --groups "$SERIAL_GROUP" \
            --home-dir /var/lib/cyber-physical-edge --no-create-home --shell /usr/sbin/nologin \
            --comment "cyber-physical edge agent" "$SERVICE_USER"
        log "created system user $SERVICE_USER in group $SERIAL_GROUP"
    elif ! group_members "$SERIAL_GROUP" | tr ',' '\n' | grep -qx "$SERVICE_USER"; then
        usermod "${prefix_option[@]}" --append --groups "$SERIAL_GROUP" "$SERVICE_USER"
        log "added user $SERVICE_USER to group $SERIAL_GROUP"
    else
        log "user $SERVICE_USER exists and is in group $SERIAL_GROUP"
    fi
    SERVICE_UID=$(passwd_field "$SERVICE_USER" 3)
    SERVICE_GID=$(passwd_field "$SERVICE_USER" 4)
}

# --- the virtual environment ------------------------------------------------------------------

source_digest() {
    # Everything pip builds the agent from, so a changed checkout gives a new digest.
    (
        cd "$REPO"
        find edge-agent -type f -not -path 'edge-agent/pi/*' -not -path '*/__pycache__/*' \
            -not -path '*.egg-info/*' -not -path 'edge-agent/build/*' -print0 | sort -z | xargs -0 sha256sum
        sha256sum constraints.txt
    ) | sha256sum | cut -d' ' -f1
}

check_python() {
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install it with 'sudo apt install python3 python3-venv'"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1), expected 3.11 or newer; use Raspberry Pi OS bookworm or set CPS_PYTHON"
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null \
        || die "$PYTHON cannot create virtual environments; install them with 'sudo apt install python3-venv'"
}

install_agent() {
    local wanted installed work
    wanted=$(source_digest)
    installed=$(cat "$STAMP" 2>/dev/null || true)
    if [ -x "$VENV/bin/cps-edge" ] && [ "$installed" = "$wanted" ]; then
        log "agent in $VENV is up to date with this checkout"
        AGENT_CHANGED=0
        return
    fi
    if [ -x "$VENV/bin/cps-edge" ] && [ "$MODE" != upgrade ]; then
        log "agent in $VENV was installed from other sources; run '$0 --upgrade' to replace it"
        AGENT_CHANGED=0
        return
    fi

    check_python
    if [ ! -x "$VENV/bin/python" ]; then
        install -d -m 755 "$APP_DIR"
        "$PYTHON" -m venv "$VENV"
        log "created virtual environment $VENV"
    fi
    work=$(mktemp -d)
    # The agent itself is built from this checkout. Its dependencies must be binary wheels, so a
    # platform without an onnxruntime wheel fails here in seconds instead of compiling for hours.
    "$VENV/bin/pip" wheel --quiet --no-deps --wheel-dir "$work" "$REPO/edge-agent" \
        || { rm -rf "$work"; die "building the agent's wheel from $REPO/edge-agent failed (output above)"; }
    if ! "$VENV/bin/pip" install --quiet --only-binary=:all: -c "$REPO/constraints.txt" "$work"/*.whl; then
        rm -rf "$work"
        die "pip could not install the agent's dependencies as binary wheels for $(uname -m) (output above); " \
            "onnxruntime has wheels for 64-bit Arm and x86 only, so a 32-bit OS needs the 64-bit Raspberry Pi OS"
    fi
    # Same version number as before: without --force-reinstall pip would keep the old files.
    "$VENV/bin/pip" install --quiet --no-deps --force-reinstall "$work"/*.whl
    rm -rf "$work"
    printf '%s\n' "$wanted" >"$STAMP"
    log "installed the agent into $VENV ($("$VENV/bin/cps-edge" --version))"
    AGENT_CHANGED=1
}

ensure_link() {
    if [ "$(readlink "$BIN_LINK" 2>/dev/null)" = "/opt/cyber-physical-edge/venv/bin/cps-edge" ]; then
        return
    fi
    install -d -m 755 "$(dirname "$BIN_LINK")"
    ln -sfn /opt/cyber-physical-edge/venv/bin/cps-edge "$BIN_LINK"
    log "linked $BIN_LINK"
}

# --- settings, store, unit ----------------------------------------------------------------------

toml_string_ok() { case $1 in *'"'* | *'\'* | *$'\n'*) return 1 ;; esac; }

write_config() {
    if [ -e "$CONFIG_FILE" ]; then
        log "kept $CONFIG_FILE (never overwritten)"
        if [ -n "$SERIAL_PORT$REGISTRY_URL" ]; then
            log "--serial-port and --registry-url only fill a new file; edit $CONFIG_FILE to change them"
        fi
        return
    fi
    local content
    content=$(cat "$HERE/agent.toml")
    if [ -n "$SERIAL_PORT" ]; then
        toml_string_ok "$SERIAL_PORT" || die "--serial-port '$SERIAL_PORT' contains a quote, backslash or newline"
        content=$(printf '%s\n' "$content" | sed "s|^# serial_port = .*|serial_port = \"$(printf '%s' "$SERIAL_PORT" | sed 's/[&|]/\\&/g')\"|")
    fi
    if [ -n "$REGISTRY_URL" ]; then
        toml_string_ok "$REGISTRY_URL" || die "--registry-url '$REGISTRY_URL' contains a quote, backslash or newline"
        content=$(printf '%s\n' "$content" | sed "s|^# registry_url = .*|registry_url = \"$(printf '%s' "$REGISTRY_URL" | sed 's/[&|]/\\&/g')\"|")
    fi
    install -d -m 755 "$CONFIG_DIR"
    # Readable by the service user only, because the file may hold the agent's token.
    printf '%s\n' "$content" | install -m 640 -o 0 -g "$SERVICE_GID" /dev/stdin "$CONFIG_FILE"
    log "wrote $CONFIG_FILE"
}

ensure_state_dir() {
    if [ -d "$STATE_DIR" ] && [ "$(stat -c '%u:%g:%a' "$STATE_DIR")" = "$SERVICE_UID:$SERVICE_GID:750" ]; then
        log "model store $STATE_DIR exists"
        return
    fi
    install -d -m 750 -o "$SERVICE_UID" -g "$SERVICE_GID" "$STATE_DIR"
    log "model store $STATE_DIR ready, owned by $SERVICE_USER"
}

install_unit() {
    if cmp -s "$HERE/$UNIT_NAME" "$UNIT_FILE"; then
        log "unit $UNIT_FILE is up to date"
        UNIT_CHANGED=0
        return
    fi
    install -d -m 755 "$(dirname "$UNIT_FILE")"
    install -m 644 "$HERE/$UNIT_NAME" "$UNIT_FILE"
    log "installed unit $UNIT_FILE"
    UNIT_CHANGED=1
}

start_service() {
    if ! systemd_running; then
        log "systemd is not running here (a container, chroot or CPS_PREFIX install): installed $UNIT_FILE" \
            "but could not enable it; on the device run 'sudo systemctl enable --now cps-edge'"
        return
    fi
    [ "$UNIT_CHANGED" -eq 0 ] || systemctl daemon-reload
    if ! systemctl is-enabled --quiet "$UNIT_NAME"; then
        systemctl enable --quiet "$UNIT_NAME"
        log "enabled $UNIT_NAME"
    fi
    if ! systemctl is-active --quiet "$UNIT_NAME"; then
        systemctl start "$UNIT_NAME"
        log "started $UNIT_NAME; follow it with 'journalctl -u cps-edge -f'"
    elif [ "$AGENT_CHANGED" -eq 1 ] || [ "$UNIT_CHANGED" -eq 1 ]; then
        systemctl restart "$UNIT_NAME"
        log "restarted $UNIT_NAME on the new version"
    else
        log "$UNIT_NAME is enabled and running"
    fi
}

# --- uninstall ----------------------------------------------------------------------------------

uninstall() {
    if systemd_running && [ -e "$UNIT_FILE" ]; then
        systemctl disable --now --quiet "$UNIT_NAME" || true
    fi
    if [ -e "$UNIT_FILE" ]; then
        rm -f "$UNIT_FILE"
        ! systemd_running || systemctl daemon-reload
        log "removed $UNIT_FILE"
    fi
    if [ -L "$BIN_LINK" ]; then
        rm -f "$BIN_LINK"
        log "removed $BIN_LINK"
    fi
    if [ -d "$APP_DIR" ]; then
        rm -rf "$APP_DIR"
        log "removed $APP_DIR"
    fi
    if [ "$PURGE" -eq 0 ]; then
        log "kept $CONFIG_FILE, the model store $STATE_DIR and user $SERVICE_USER; '--uninstall --purge' removes them"
        return
    fi
    rm -rf "$CONFIG_DIR" "$STATE_DIR"
    log "removed $CONFIG_DIR and $STATE_DIR"
    if [ -n "$(passwd_field "$SERVICE_USER" 1)" ]; then
        local prefix_option=()
        [ -z "$PREFIX" ] || prefix_option=(--prefix "$PREFIX")
        userdel "${prefix_option[@]}" "$SERVICE_USER"
        log "removed user $SERVICE_USER"
    fi
}

if [ "$MODE" = uninstall ]; then
    uninstall
    exit 0
fi

AGENT_CHANGED=0
UNIT_CHANGED=0
ensure_user
install_agent
ensure_link
write_config
ensure_state_dir
install_unit
start_service
log "done; check the device with: sudo -u $SERVICE_USER /opt/cyber-physical-edge/venv/bin/cps-edge preflight --config /etc/cyber-physical-edge/agent.toml"
