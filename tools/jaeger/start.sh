#!/usr/bin/env bash
# Start Jaeger all-in-one (in-memory storage, everything on 127.0.0.1) in the
# background and wait until its query API answers.
#
# Usage: tools/jaeger/start.sh [RUN_DIR]
#   RUN_DIR  defaults to $JAEGER_RUN_DIR or ${TMPDIR:-/tmp}/kretspan-jaeger.
#            Gets jaeger.pid, jaeger.log and jaeger.env (shell-sourceable:
#            JAEGER_PID, JAEGER_QUERY_URL, JAEGER_OTLP_GRPC_ENDPOINT, ...).
#
# Environment (all optional):
#   JAEGER_BIN               binary to run; default: tools/jaeger/build.sh's cache
#                            (built first if missing, ~8-10 min cold)
#   JAEGER_CONFIG            config file; default tools/jaeger/config.yaml
#   JAEGER_OTLP_GRPC_PORT    default 4317
#   JAEGER_OTLP_HTTP_PORT    default 4318
#   JAEGER_QUERY_HTTP_PORT   default 16686
#   JAEGER_QUERY_GRPC_PORT   default 16685
#   JAEGER_START_TIMEOUT     seconds to wait for /api/services; default 60
#
# stdout: the pid (only). Stop with tools/jaeger/stop.sh [RUN_DIR].
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run_dir=${1:-${JAEGER_RUN_DIR:-${TMPDIR:-/tmp}/kretspan-jaeger}}
config=${JAEGER_CONFIG:-$here/config.yaml}
timeout=${JAEGER_START_TIMEOUT:-60}

export JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-4317}
export JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318}
export JAEGER_QUERY_HTTP_PORT=${JAEGER_QUERY_HTTP_PORT:-16686}
export JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}

log() { printf '[jaeger-start] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
pidfile=$run_dir/jaeger.pid
logfile=$run_dir/jaeger.log
envfile=$run_dir/jaeger.env

if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
	die "already running with pid $(cat "$pidfile") (run dir $run_dir); stop it with $here/stop.sh $run_dir"
fi
rm -f "$pidfile" "$envfile"

bin=${JAEGER_BIN:-}
if [[ -z $bin ]]; then
	bin=$("$here/build.sh")
fi
[[ -x $bin ]] || die "no executable Jaeger binary at $bin"
[[ -r $config ]] || die "cannot read config $config"

# Refuse ports that are already taken: otherwise the API check below could be
# answered by some other Jaeger while ours fails to bind.
for port in "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_QUERY_HTTP_PORT" "$JAEGER_QUERY_GRPC_PORT"; do
	if [[ -n $(ss -Hltn "sport = :$port") ]]; then
		die "TCP port $port is already in use: $(ss -Hltnp "sport = :$port" | head -n1)"
	fi
done

log "starting $bin"
log "  config $config, log $logfile"
# setsid: own session/process group, so the caller's Ctrl-C does not reach it
# and stop.sh can signal exactly this process.
setsid "$bin" --config "$config" </dev/null >"$logfile" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

query_url=http://127.0.0.1:$JAEGER_QUERY_HTTP_PORT
deadline=$((SECONDS + timeout))
until curl -fsS -o /dev/null --max-time 2 "$query_url/api/services" 2>/dev/null; do
	if ! kill -0 "$pid" 2>/dev/null; then
		log "Jaeger exited during startup; last log lines:"
		tail -n 30 "$logfile" >&2 || true
		rm -f "$pidfile"
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		log "Jaeger did not answer $query_url/api/services within ${timeout}s; last log lines:"
		tail -n 30 "$logfile" >&2 || true
		kill "$pid" 2>/dev/null || true
		rm -f "$pidfile"
		exit 1
	fi
	sleep 0.2
done

cat >"$envfile" <<EOF
JAEGER_PID=$pid
JAEGER_QUERY_URL=$query_url
JAEGER_OTLP_GRPC_ENDPOINT=127.0.0.1:$JAEGER_OTLP_GRPC_PORT
JAEGER_OTLP_HTTP_ENDPOINT=127.0.0.1:$JAEGER_OTLP_HTTP_PORT
JAEGER_QUERY_GRPC_ENDPOINT=127.0.0.1:$JAEGER_QUERY_GRPC_PORT
JAEGER_LOG=$logfile
EOF

log "ready after ${SECONDS}s: pid $pid"
log "  UI/API      $query_url"
log "  OTLP gRPC   127.0.0.1:$JAEGER_OTLP_GRPC_PORT  (OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$JAEGER_OTLP_GRPC_PORT)"
log "  OTLP HTTP   127.0.0.1:$JAEGER_OTLP_HTTP_PORT"
log "  stop with   $here/stop.sh $run_dir"
printf '%s\n' "$pid"
