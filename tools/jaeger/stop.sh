#!/usr/bin/env bash
# Stop a Jaeger started by tools/jaeger/start.sh.
#
# Usage: tools/jaeger/stop.sh [RUN_DIR]
#   RUN_DIR  same default as start.sh: $JAEGER_RUN_DIR or ${TMPDIR:-/tmp}/kretspan-jaeger
#
# Sends SIGTERM to the pid in RUN_DIR/jaeger.pid, waits up to
# JAEGER_STOP_TIMEOUT seconds (default 10), then SIGKILL. Only that pid is
# signalled, and only if it still is a Jaeger process started with --config.
set -euo pipefail

run_dir=${1:-${JAEGER_RUN_DIR:-${TMPDIR:-/tmp}/kretspan-jaeger}}
pidfile=$run_dir/jaeger.pid
timeout=${JAEGER_STOP_TIMEOUT:-10}

log() { printf '[jaeger-stop] %s\n' "$*" >&2; }

if [[ ! -s $pidfile ]]; then
	log "no pid file at $pidfile; nothing to stop"
	exit 0
fi
pid=$(cat "$pidfile")

# Guard against a recycled pid: the process must look like our Jaeger.
if ! kill -0 "$pid" 2>/dev/null || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--config'; then
	log "pid $pid is not running (or is not Jaeger); removing stale $pidfile"
	rm -f "$pidfile" "$run_dir/jaeger.env"
	exit 0
fi

kill -TERM "$pid"
for ((i = 0; i < timeout * 10; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	log "pid $pid did not exit within ${timeout}s after SIGTERM; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pidfile" "$run_dir/jaeger.env"
log "stopped pid $pid"
