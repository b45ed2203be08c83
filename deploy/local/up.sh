#!/usr/bin/env bash
# deploy/local/up.sh — make sure the local development dependencies of fleetd
# are running:
#   * PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/fleetledger)
#   * NATS with JetStream at NATS_URL (default nats://127.0.0.1:4222)
# and that the database named in DATABASE_URL exists.
#
# Services are only *started* when they are meant to run on this host
# (localhost / 127.0.0.1 / ::1); for a remote address the script only checks.
# Idempotent: when everything is already up it does three quick probes and exits.
# Works from any working directory. Starting/installing needs root.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/fleetledger}"
NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"

PG_WAIT_SECS=30
NATS_WAIT_SECS=20
NATS_BIN_DEFAULT=/usr/sbin/nats-server
NATS_STORE_DIR=/var/lib/nats-server
NATS_LOG=/var/log/nats-server.log
# Our own pid file, so that start-stop-daemon does not mistake some other
# nats-server process (e.g. the test cluster from nats-cluster.sh) for this one.
NATS_PIDFILE=/run/fleetledger-nats-server.pid

say() { echo "deploy/local: $*"; }
die() { echo "deploy/local: ERROR: $*" >&2; exit 1; }

# Percent-decode a URL component (e.g. "p%40ss" -> "p@ss").
urldecode() { local s="${1//+/ }"; printf '%b' "${s//%/\\x}"; }

is_local_host() {
    case "$1" in
        localhost | 127.* | ::1 | "") return 0 ;;
        *) return 1 ;;
    esac
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "$1 is not installed and apt-get is unavailable"
    [ "$(id -u)" -eq 0 ] || die "$1 is not installed; run as root to install it"
    say "installing $* (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---------------------------------------------------------------------------
# Parse DATABASE_URL: postgres[ql]://[user[:password]@]host[:port][/dbname][?params]
# ---------------------------------------------------------------------------
rest="${DATABASE_URL#*://}"
rest="${rest%%\?*}"
authority="${rest%%/*}"
if [[ "$rest" == */* ]]; then PG_DB="${rest#*/}"; else PG_DB=""; fi
PG_DB="$(urldecode "${PG_DB:-postgres}")"
PG_USER=postgres
PG_PASSWORD=""
if [[ "$authority" == *@* ]]; then
    userinfo="${authority%@*}"
    authority="${authority##*@}"
    PG_USER="$(urldecode "${userinfo%%:*}")"
    [[ "$userinfo" == *:* ]] && PG_PASSWORD="$(urldecode "${userinfo#*:}")"
    PG_USER="${PG_USER:-postgres}"
fi
PG_HOST=""
PG_PORT=""
if [[ "$authority" == \[*\]* ]]; then            # [IPv6]:port
    PG_HOST="${authority#\[}"; PG_HOST="${PG_HOST%%\]*}"
    hp_rest="${authority#*\]}"; PG_PORT="${hp_rest#:}"
elif [[ "$authority" == *:* ]]; then
    PG_HOST="${authority%%:*}"; PG_PORT="${authority#*:}"
else
    PG_HOST="$authority"
fi
PG_HOST="${PG_HOST:-127.0.0.1}"
[[ "$PG_PORT" =~ ^[0-9]+$ ]] || PG_PORT=5432
[ -n "$PG_PASSWORD" ] && export PGPASSWORD="$PG_PASSWORD"
export PGCONNECT_TIMEOUT=5

# ---------------------------------------------------------------------------
# Parse the first server of NATS_URL: [nats|tls|...://][user[:pass]@]host[:port], comma-separated list.
# ---------------------------------------------------------------------------
first="${NATS_URL%%,*}"
first="${first// /}"
first="${first#*://}"
first="${first##*@}"
first="${first%%/*}"
if [[ "$first" == \[*\]* ]]; then
    NATS_HOST="${first#\[}"; NATS_HOST="${NATS_HOST%%\]*}"
    hp_rest="${first#*\]}"; NATS_PORT="${hp_rest#:}"
elif [[ "$first" == *:* ]]; then
    NATS_HOST="${first%%:*}"; NATS_PORT="${first#*:}"
else
    NATS_HOST="$first"; NATS_PORT=""
fi
NATS_HOST="${NATS_HOST:-127.0.0.1}"
[ "$NATS_HOST" = localhost ] && NATS_HOST=127.0.0.1
[[ "$NATS_PORT" =~ ^[0-9]+$ ]] || NATS_PORT=4222

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2 >/dev/null 2>&1; }

# Newest PostgreSQL version that has a "main" cluster under /etc/postgresql.
pg_cluster_version() {
    find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -type d 2>/dev/null \
        | awk -F/ '{print $4}' | sort -V | tail -n 1 || true
}

pg_start_local() {
    [ "$(id -u)" -eq 0 ] || die "postgres is not running at $PG_HOST:$PG_PORT; run as root to start it"
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt_install postgresql   # the Debian package also creates and starts cluster "main"
    fi
    local ver
    ver="$(pg_cluster_version)"
    if [ -z "$ver" ]; then
        # Server binaries present but no cluster (e.g. it was dropped): create one.
        ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
        say "creating PostgreSQL $ver cluster main"
        pg_createcluster "$ver" main >/dev/null
    fi
    PG_CLUSTER_VERSION="$ver"
    say "starting PostgreSQL $ver/main"
    # --skip-systemctl-redirect: there is no systemd in containers.
    # A failure (e.g. "already running" on another port) is reported by the wait below.
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
}

# Development only: let every local user connect over loopback TCP without a
# password ("trust"), as the default DATABASE_URL has no password.
pg_ensure_trust() {
    local ver="${PG_CLUSTER_VERSION:-$(pg_cluster_version)}"
    local hba="/etc/postgresql/$ver/main/pg_hba.conf"
    [ -n "$ver" ] && [ -f "$hba" ] && [ "$(id -u)" -eq 0 ] || return 1
    say "enabling trust auth for 127.0.0.1/32 and ::1/128 in $hba"
    # pg_hba.conf is matched first-to-last, so the trust lines go at the top.
    local tmp
    tmp="$(mktemp)"
    {
        echo "# added by fleetledger deploy/local/up.sh (development only)"
        echo "host    all    all    127.0.0.1/32    trust"
        echo "host    all    all    ::1/128         trust"
        cat "$hba"
    } >"$tmp"
    cat "$tmp" >"$hba"   # keep the file's owner and mode
    rm -f "$tmp"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
}

psql_admin() {
    # Run SQL from stdin against the "postgres" maintenance database.
    psql -X -q -v ON_ERROR_STOP=1 -tA -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"
}

if ! pg_ready; then
    is_local_host "$PG_HOST" || die "postgres at $PG_HOST:$PG_PORT is not reachable (not a local address, not starting it)"
    pg_start_local
    for _ in $(seq 1 $((PG_WAIT_SECS * 2))); do
        pg_ready && break
        sleep 0.5
    done
    pg_ready || die "postgres did not become ready on $PG_HOST:$PG_PORT within ${PG_WAIT_SECS}s"
fi

if ! echo 'select 1' | psql_admin >/dev/null 2>&1; then
    if is_local_host "$PG_HOST" && [ "$PG_USER" = postgres ] && [ -z "$PG_PASSWORD" ] && pg_ensure_trust; then
        sleep 0.5
    fi
    err="$(echo 'select 1' | psql_admin 2>&1 >/dev/null)" \
        || die "cannot connect to postgres at $PG_HOST:$PG_PORT as $PG_USER: $err"
fi
say "postgres ok ($PG_HOST:$PG_PORT)"

# ---------------------------------------------------------------------------
# NATS (JetStream)
# ---------------------------------------------------------------------------
# On connect a NATS server first sends one line "INFO {json}"; with JetStream
# enabled the JSON contains "jetstream":true. Prints that line, fails if no connect.
nats_info() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$1/$2" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf "%s\n" "$line"
    ' _ "$NATS_HOST" "$NATS_PORT" 2>/dev/null
}

nats_start_local() {
    [ "$(id -u)" -eq 0 ] || die "nats is not running at $NATS_HOST:$NATS_PORT; run as root to start it"
    local bin="$NATS_BIN_DEFAULT"
    if [ ! -x "$bin" ]; then
        bin="$(command -v nats-server || true)"
    fi
    if [ -z "$bin" ]; then
        apt_install nats-server
        bin="$NATS_BIN_DEFAULT"
        [ -x "$bin" ] || bin="$(command -v nats-server)"
    fi
    # The Debian package may start its own service on 4222 right after install.
    nats_info >/dev/null && return 0
    mkdir -p "$NATS_STORE_DIR"
    # Always -js: fleetd needs JetStream.
    local args=(-a "$NATS_HOST" -p "$NATS_PORT" -js -sd "$NATS_STORE_DIR" -l "$NATS_LOG")
    say "starting nats-server on $NATS_HOST:$NATS_PORT (JetStream, store $NATS_STORE_DIR)"
    if command -v start-stop-daemon >/dev/null 2>&1; then
        start-stop-daemon --start --oknodo --background \
            --make-pidfile --pidfile "$NATS_PIDFILE" \
            --exec "$bin" -- "${args[@]}"
    else
        nohup "$bin" "${args[@]}" >/dev/null 2>&1 &
        echo $! >"$NATS_PIDFILE"
        disown || true
    fi
}

if ! info="$(nats_info)"; then
    is_local_host "$NATS_HOST" || die "nats at $NATS_HOST:$NATS_PORT is not reachable (not a local address, not starting it)"
    nats_start_local
    for _ in $(seq 1 $((NATS_WAIT_SECS * 4))); do
        info="$(nats_info)" && break
        sleep 0.25
    done
    [ -n "${info:-}" ] || die "nats did not accept connections on $NATS_HOST:$NATS_PORT within ${NATS_WAIT_SECS}s (see $NATS_LOG)"
fi
case "$info" in
    *'"jetstream":true'*) ;;
    *) die "nats at $NATS_HOST:$NATS_PORT is up but JetStream is not enabled (restart it with -js)" ;;
esac
say "nats ok ($NATS_HOST:$NATS_PORT, jetstream)"

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
db_exists() {
    # psql variables (:'db') are interpolated only in SQL read from stdin, not in -c.
    [ "$(echo "select 1 from pg_database where datname = :'db'" | psql_admin -v db="$PG_DB")" = 1 ]
}

if ! db_exists; then
    # A concurrent run may create it between the check and CREATE; re-check on failure.
    if ! err="$(echo 'CREATE DATABASE :"db"' | psql_admin -v db="$PG_DB" 2>&1)" && ! db_exists; then
        die "could not create database $PG_DB: $err"
    fi
    say "database $PG_DB created"
fi
say "database ok ($PG_DB)"
