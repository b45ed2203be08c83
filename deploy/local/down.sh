#!/usr/bin/env bash
# deploy/local/down.sh — stop the local NATS server and PostgreSQL cluster that
# deploy/local/up.sh starts. For humans testing the "services down at start"
# case; tests never call it. Needs root. Leaves data in place.
set -euo pipefail

NATS_BIN=/usr/sbin/nats-server
NATS_PIDFILE=/run/fleetledger-nats-server.pid   # written by up.sh when it starts NATS
NATS_PORT=4222

say() { echo "deploy/local: $*"; }

# --- NATS ------------------------------------------------------------------
# Stop only the development server (the one on port 4222), not the test cluster
# of nats-cluster.sh, which runs the same binary.
if [ -f "$NATS_PIDFILE" ]; then
    start-stop-daemon --stop --oknodo --retry 10 --pidfile "$NATS_PIDFILE" --exec "$NATS_BIN" >/dev/null
    rm -f "$NATS_PIDFILE"
fi
# A server started by hand (without our pid file): find it by its "-p 4222" argument.
for cmdline in /proc/[0-9]*/cmdline; do
    pid="${cmdline#/proc/}"; pid="${pid%/cmdline}"
    args="$(tr '\0' ' ' <"$cmdline" 2>/dev/null || true)"
    case "$args" in
        "$NATS_BIN "*"-p $NATS_PORT "* | "nats-server "*"-p $NATS_PORT "*)
            start-stop-daemon --stop --oknodo --retry 10 --pid "$pid" >/dev/null || true ;;
    esac
done
say "nats stopped"

# --- PostgreSQL --------------------------------------------------------------
for dir in /etc/postgresql/*/main; do
    [ -d "$dir" ] || continue
    ver="$(basename "$(dirname "$dir")")"
    if pg_ctlcluster --skip-systemctl-redirect "$ver" main status >/dev/null 2>&1; then
        pg_ctlcluster --skip-systemctl-redirect "$ver" main stop
    fi
    say "postgres $ver/main stopped"
done
