#!/usr/bin/env bash
# Drive the container stack of docker-compose.yml.
#
#   docker/manage.sh build                 build the cloud and agent images
#   docker/manage.sh start                 collect, train, register and serve (SQLite store)
#   docker/manage.sh start-prod            the same with PostgreSQL; needs POSTGRES_PASSWORD
#   docker/manage.sh stop                  stop and remove the containers, keep all data
#   docker/manage.sh clean                 also remove named volumes and the built images
#   docker/manage.sh logs [SERVICE] [ARGS] last lines of the logs (ARGS go to 'compose logs')
#   docker/manage.sh status                state and health of each service
#   docker/manage.sh backup                archive the MLflow store and artifacts in backups/
#   docker/manage.sh restore ARCHIVE       put a backup back and restart the MLflow server
#
# Environment: every variable listed at the top of docker-compose.yml, plus
#   DOCKER           Docker client (default: docker)
#   CPS_BACKUP_DIR   folder of the backup archives (default: $CPS_DATA_ROOT/backups)
#   WAIT_SECONDS     how long start waits for the services to be healthy (default 900)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DOCKER=${DOCKER:-docker}
export CPS_DATA_ROOT=${CPS_DATA_ROOT:-$ROOT}
BACKUP_DIR=${CPS_BACKUP_DIR:-$CPS_DATA_ROOT/backups}
WAIT_SECONDS=${WAIT_SECONDS:-900}
IMAGE_UID=10001
SQLITE_FILE=mlflow.db

# Debian and Ubuntu keep the system CA bundle here; passing it to pip lets builds work behind a
# TLS-intercepting proxy whose CA the host trusts. Elsewhere the empty default keeps pip's own.
if [ -z "${PIP_CERT_FILE:-}" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
    export PIP_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
fi

log() { printf 'manage: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

compose() { "$DOCKER" compose -f "$ROOT/docker-compose.yml" "$@"; }

# The production file makes compose stop at once when POSTGRES_PASSWORD is missing.
compose_prod() {
    "$DOCKER" compose -f "$ROOT/docker-compose.yml" -f "$ROOT/docker/compose.production.yml" \
        --profile production "$@"
}

# Commands that must also reach the postgres container use the profile without the password
# check, so that stop, status and backup work whichever way the stack was started.
compose_all() { compose --profile production "$@"; }

prepare_folders() {
    mkdir -p "$CPS_DATA_ROOT/mlruns" "$CPS_DATA_ROOT/data" "$CPS_DATA_ROOT/logs"
    if [ "$(id -u)" -eq 0 ]; then
        # The images run as uid 10001; bind-mounted folders must be theirs to write.
        chown "$IMAGE_UID:$IMAGE_UID" "$CPS_DATA_ROOT/mlruns" "$CPS_DATA_ROOT/data" "$CPS_DATA_ROOT/logs"
    else
        # Run the cloud services as the caller, who owns the folders.
        export CPS_UID=${CPS_UID:-$(id -u)} CPS_GID=${CPS_GID:-$(id -g)}
    fi
}

is_running() {
    [ -n "$(compose_all ps --status running --quiet "$1" 2>/dev/null)" ]
}

cmd_build() {
    compose build "$@"
}

cmd_start() {
    prepare_folders
    log "starting; the first run trains a model, which takes a few minutes"
    compose up --detach --wait --wait-timeout "$WAIT_SECONDS" "$@"
    log "dashboard http://${CPS_BIND_ADDRESS:-127.0.0.1}:${MLFLOW_PORT:-5000}, forecasts http://${CPS_BIND_ADDRESS:-127.0.0.1}:${API_PORT:-8080}/predict/live"
}

cmd_start_prod() {
    [ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD is not set; export a strong password (it is also the MLflow store's) and run start-prod again"
    prepare_folders
    compose_prod up --detach --wait --wait-timeout "$WAIT_SECONDS" "$@"
}

cmd_stop() {
    compose_all down --remove-orphans
}

cmd_clean() {
    compose_all down --remove-orphans --volumes --rmi local
    log "containers, named volumes and built images removed; $CPS_DATA_ROOT/mlruns, data and logs are kept: delete them by hand to start over"
}

cmd_logs() {
    compose_all logs --no-color --timestamps --tail "${LOG_LINES:-200}" "$@"
}

cmd_status() {
    local rows unhealthy
    rows=$(compose_all ps --all --format '{{.Service}}\t{{.State}}\t{{.Health}}\t{{.ExitCode}}')
    [ -n "$rows" ] || { log "no containers: run 'docker/manage.sh start'"; return 1; }
    printf 'SERVICE\tSTATE\tHEALTH\tEXIT\n%s\n' "$rows" | column -t -s $'\t'
    # Jobs that finished with 0 are fine; anything else that is not running and healthy is not.
    unhealthy=$(printf '%s\n' "$rows" | awk -F'\t' '
        $2 == "exited" && $4 == 0 { next }
        $2 == "running" && ($3 == "healthy" || $3 == "") { next }
        { print $1 }')
    if [ -n "$unhealthy" ]; then
        log "not healthy: $(echo $unhealthy)"
        return 1
    fi
}

cmd_backup() {
    local stamp staging archive
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    staging=$(mktemp -d)
    trap 'rm -rf "$staging"' RETURN
    mkdir -p "$BACKUP_DIR"

    if is_running postgres; then
        log "dumping PostgreSQL"
        compose_all exec -T postgres pg_dump --username=mlflow --dbname=mlflow --format=custom \
            >"$staging/mlflow.pgdump"
        echo "store=postgres" >"$staging/BACKUP_INFO"
    elif [ -f "$CPS_DATA_ROOT/mlruns/$SQLITE_FILE" ]; then
        log "copying the SQLite store"
        # SQLite's online backup gives a consistent copy even while the server writes.
        python3 - "$CPS_DATA_ROOT/mlruns/$SQLITE_FILE" "$staging/$SQLITE_FILE" <<'PY'
import sqlite3, sys
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
target = sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
target.close()
source.close()
PY
        echo "store=sqlite" >"$staging/BACKUP_INFO"
    else
        die "no MLflow store found: postgres is not running and $CPS_DATA_ROOT/mlruns/$SQLITE_FILE does not exist"
    fi
    echo "created=$stamp" >>"$staging/BACKUP_INFO"

    if [ -d "$CPS_DATA_ROOT/mlruns/artifacts" ]; then
        cp -a "$CPS_DATA_ROOT/mlruns/artifacts" "$staging/artifacts"
    else
        mkdir "$staging/artifacts"
    fi
    archive="$BACKUP_DIR/cps-backup-$stamp.tar.gz"
    tar -C "$staging" -czf "$archive.partial" .
    mv "$archive.partial" "$archive"
    log "backup written"
    echo "$archive"
}

cmd_restore() {
    local archive=${1:-} staging store mlruns="$CPS_DATA_ROOT/mlruns" server_was_running=0
    [ -n "$archive" ] || die "restore needs the archive: docker/manage.sh restore $BACKUP_DIR/cps-backup-<time>.tar.gz"
    [ -f "$archive" ] || die "backup archive $archive not found; list $BACKUP_DIR for the available ones"
    staging=$(mktemp -d)
    trap 'rm -rf "$staging"' RETURN
    tar -C "$staging" -xzf "$archive"
    store=$(sed -n 's/^store=//p' "$staging/BACKUP_INFO" 2>/dev/null || true)
    case "$store" in
        sqlite | postgres) ;;
        *) die "$archive is not a backup of this stack: BACKUP_INFO is missing or names store '$store'" ;;
    esac

    # The server must not hold the store open while it is replaced.
    if is_running mlflow-server; then
        server_was_running=1
        compose_all stop mlflow-server
    fi

    if [ "$store" = postgres ]; then
        is_running postgres || die "the backup is of PostgreSQL but the postgres service is not running; run 'docker/manage.sh start-prod' first"
        compose_all exec -T postgres pg_restore --username=mlflow --dbname=mlflow --clean --if-exists \
            <"$staging/mlflow.pgdump"
    else
        mkdir -p "$mlruns"
        cp "$staging/$SQLITE_FILE" "$mlruns/$SQLITE_FILE.restoring"
        mv "$mlruns/$SQLITE_FILE.restoring" "$mlruns/$SQLITE_FILE"
        rm -f "$mlruns/$SQLITE_FILE-wal" "$mlruns/$SQLITE_FILE-shm"
    fi
    rm -rf "$mlruns/artifacts.restoring"
    cp -a "$staging/artifacts" "$mlruns/artifacts.restoring"
    rm -rf "$mlruns/artifacts"
    mv "$mlruns/artifacts.restoring" "$mlruns/artifacts"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R "$IMAGE_UID:$IMAGE_UID" "$mlruns"
    fi
    log "restored $store store and artifacts from $archive"

    if [ "$server_was_running" -eq 1 ]; then
        compose_all up --detach --no-deps --wait --wait-timeout "$WAIT_SECONDS" mlflow-server
    fi
}

usage() {
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

verb=${1:-}
[ $# -gt 0 ] && shift
case "$verb" in
    build) cmd_build "$@" ;;
    start) cmd_start "$@" ;;
    start-prod) cmd_start_prod "$@" ;;
    stop) cmd_stop ;;
    clean) cmd_clean ;;
    logs) cmd_logs "$@" ;;
    status) cmd_status ;;
    backup) cmd_backup ;;
    restore) cmd_restore "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; die "unknown command '${verb}'; use one of the commands above" ;;
esac
