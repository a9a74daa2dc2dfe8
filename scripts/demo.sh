#!/usr/bin/env bash
# make demo: trace this machine with kretspan and look at the spans in a local Jaeger.
#
# Builds bin/kretspan and Jaeger (tools/jaeger/build.sh; the first Jaeger build takes minutes),
# starts Jaeger on 127.0.0.1, asks `kretspan check` what this kernel can trace, picks a probe set
# to match, and exports every traced call to Jaeger until Ctrl-C (or DEMO_DURATION). Ctrl-C stops
# kretspan (which flushes its last spans and prints its per-probe summary) and then Jaeger.
#
# Environment (all optional):
#   DEMO_DURATION=30s        stop after this long instead of waiting for Ctrl-C (CI, a quick try)
#   PROBES="syscall:read uprobe:libc:getaddrinfo"
#                            extra probes, added to the default set below
#   DEMO_MIN_DURATION=10us   kretspan --min-duration for the whole demo (see the comment below)
#   DEMO_RUN_DIR=DIR         where Jaeger's pid, log, env and config files go (default /tmp/kretspan-demo)
#   DEMO_UI_ASSETS=DIR       a built jaeger-ui for Jaeger to serve (default: tools/jaeger/viewer, see below)
#   JAEGER_OTLP_GRPC_PORT, JAEGER_OTLP_HTTP_PORT, JAEGER_QUERY_HTTP_PORT, JAEGER_QUERY_GRPC_PORT
#                            Jaeger's ports (defaults 4317, 4318, 16686, 16685)
#
# Needs root for kretspan (BPF); uses sudo for kretspan only when not run as root.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf '[demo] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v jq >/dev/null || die "the demo needs jq (apt-get install jq)"
command -v curl >/dev/null || die "the demo needs curl (apt-get install curl)"

SUDO=
if [[ $(id -u) != 0 ]]; then
	SUDO=sudo
fi
GO=${GO:-go}
duration=${DEMO_DURATION:-}
min_duration=${DEMO_MIN_DURATION:-10us}
run_dir=${DEMO_RUN_DIR:-${TMPDIR:-/tmp}/kretspan-demo}
# Each traced process is its own service unless OTEL_SERVICE_NAME names one for every span.
service=${OTEL_SERVICE_NAME:-}
export JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-4317}
export JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318}
export JAEGER_QUERY_HTTP_PORT=${JAEGER_QUERY_HTTP_PORT:-16686}
export JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}

# --- 1. kretspan -------------------------------------------------------------------------------
log "building bin/kretspan"
"$GO" build -o bin/kretspan ./cmd/kretspan

# --- 2. Jaeger ---------------------------------------------------------------------------------
# build.sh prints the cached path at once when the binary is there; otherwise it compiles Jaeger
# from the Go module proxy and shows a line per package plus an elapsed-time line every 30 s.
log "Jaeger: tools/jaeger/build.sh. The FIRST build compiles Jaeger from the Go module proxy and"
log "takes several minutes (4-10 min on 2 cores), with progress below; later runs use the cached binary."
jaeger_bin=$(tools/jaeger/build.sh) || die "building Jaeger failed (see above)"
export JAEGER_BIN=$jaeger_bin

# The demo uses fixed, well-known ports so the printed URL is always the same. If something already
# listens there (another Jaeger, an OpenTelemetry collector, an earlier demo), say so and stop:
# exporting to somebody else's collector would be confusing.
busy=0
for pair in "$JAEGER_OTLP_GRPC_PORT:OTLP gRPC" "$JAEGER_OTLP_HTTP_PORT:OTLP HTTP" \
	"$JAEGER_QUERY_HTTP_PORT:Jaeger UI/API" "$JAEGER_QUERY_GRPC_PORT:Jaeger query gRPC"; do
	port=${pair%%:*}
	if [[ -n $(ss -Hltn "sport = :$port") ]]; then
		log "error: TCP port $port (${pair#*:}) is already in use: $(ss -Hltnp "sport = :$port" | head -n1 | tr -s ' ')"
		busy=1
	fi
done
if ((busy)); then
	log "Stop whatever listens there (an earlier demo: tools/jaeger/stop.sh $run_dir), or pick other ports,"
	log "e.g. JAEGER_OTLP_GRPC_PORT=14317 JAEGER_OTLP_HTTP_PORT=14318 JAEGER_QUERY_HTTP_PORT=26686 JAEGER_QUERY_GRPC_PORT=26685 make demo"
	exit 1
fi

kretspan_pid=
interrupted=0
# SIGINT to kretspan itself: it flushes its last spans, prints its summary and exits 0.
stop_kretspan() {
	local pid
	pid=$(cat "$run_dir/kretspan.pid" 2>/dev/null) || return 0
	if [[ -n $pid ]]; then
		$SUDO kill -INT "$pid" 2>/dev/null || true
	fi
}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	# The signal that brought us here may have ended some children already, and a failed kill
	# under set -e would end the cleanup before Jaeger is stopped.
	set +e
	if [[ -n $kretspan_pid ]] && kill -0 "$kretspan_pid" 2>/dev/null; then
		log "stopping kretspan"
		stop_kretspan
		wait "$kretspan_pid" 2>/dev/null || true
	fi
	rm -f "$run_dir/kretspan.pid"
	for pid in ${load_pid:-} ${service_pid:-}; do
		kill "$pid" 2>/dev/null
	done
	if [[ -s $run_dir/jaeger.pid ]]; then
		tools/jaeger/stop.sh "$run_dir"
	fi
	# An interrupt is how the demo is meant to end.
	((interrupted)) && status=0
	exit "$status"
}
trap cleanup EXIT
# Ctrl-C reaches kretspan directly (same process group, from the terminal); it then flushes its
# last spans, prints its summary and exits 0. The shell only notes the interrupt and carries on to
# the cleanup, so Jaeger is stopped too.
trap 'interrupted=1' INT TERM

# Jaeger built from the Go module proxy has no web UI (the jaeger-ui assets are built with npm and
# embedded only in Jaeger's release builds): its page says "This is not the Jaeger UI you are looking
# for". So Jaeger serves tools/jaeger/viewer instead, a minimal waterfall viewer of the same query
# API (routes /search?service=NAME and /trace/ID), or DEMO_UI_ASSETS, a directory with a built
# jaeger-ui (the contents of its release's assets.tar.gz).
ui_assets=${DEMO_UI_ASSETS:-$root/tools/jaeger/viewer}
mkdir -p "$run_dir"
[[ -r $ui_assets/index.html ]] || die "no index.html in $ui_assets (DEMO_UI_ASSETS)"
grep -q '^  jaeger_query:$' tools/jaeger/config.yaml || die "tools/jaeger/config.yaml has no jaeger_query section"
awk -v dir="$ui_assets" '{ print } /^  jaeger_query:$/ { print "    ui:"; print "      assets_path: \"" dir "\"" }' \
	tools/jaeger/config.yaml >"$run_dir/config.yaml"
export JAEGER_CONFIG=$run_dir/config.yaml

log "starting Jaeger (run dir $run_dir; UI from $ui_assets)"
tools/jaeger/start.sh "$run_dir" >/dev/null || die "Jaeger did not start (see above)"
# shellcheck source=/dev/null
. "$run_dir/jaeger.env"

# --- 3. an instrumented application --------------------------------------------------------------
# examples/httpservice: an HTTP service with the OpenTelemetry SDK and spanbind.Middleware, which
# binds each request's span to the thread serving it. Its request spans go to Jaeger too, and
# kretspan, which finds the binding marker in running processes, puts the kernel calls each request
# makes (the read of a 1 MiB file, the connect to its upstream) inside them: look for service
# "httpservice" in Jaeger. A loop requests /work every second.
log "starting examples/httpservice (service httpservice), requested every second"
"$GO" build -o bin/httpservice ./examples/httpservice
head -c 1048576 /dev/urandom >"$run_dir/payload"
OTEL_EXPORTER_OTLP_ENDPOINT="http://$JAEGER_OTLP_GRPC_ENDPOINT" bin/httpservice -addr 127.0.0.1:0 -file "$run_dir/payload" \
	>"$run_dir/httpservice.out" 2>"$run_dir/httpservice.log" &
service_pid=$!
for _ in $(seq 50); do
	read -r _ service_addr _ <"$run_dir/httpservice.out" 2>/dev/null && [[ -n ${service_addr:-} ]] && break
	sleep 0.1
done
[[ -n ${service_addr:-} ]] || die "examples/httpservice did not start: $(cat "$run_dir/httpservice.log")"
while sleep 1; do curl -fsS "http://$service_addr/work" >/dev/null 2>&1; done &
load_pid=$!

# --- 4. probes for this kernel -----------------------------------------------------------------
# kretspan check --json says what this kernel supports, and why not where it does not.
check=$($SUDO bin/kretspan check --json) || die "bin/kretspan check failed:"$'\n'"$check"
supported() { jq -e --arg f "$1" '.features[] | select(.name == $f) | .supported' <<<"$check" >/dev/null; }
if supported kprobes || supported fentry/fexit; then
	# Kernel functions can be probed: fork (kretspan translates _do_fork to kernel_clone), VFS
	# reads and writes, and file opens, which nest inside the openat syscall as child spans.
	defaults=(_do_fork vfs_read vfs_write do_sys_openat2 syscall:openat syscall:connect)
	log "this kernel has kprobes or fentry: tracing kernel functions"
else
	# No kprobes and no fentry (as on this project's CI kernel): syscall tracepoints only.
	defaults=(syscall:openat syscall:read syscall:write syscall:clock_nanosleep syscall:connect)
	log "this kernel has neither kprobes nor fentry: tracing syscalls"
fi
# Keep the defaults this kernel can attach, so that one missing function does not stop the demo.
# check exits 2 when some cannot attach, and still reports every probe. Extra PROBES are passed as
# given: a typo there should fail loudly.
report=$($SUDO bin/kretspan check --json "${defaults[@]}" 2>/dev/null) || true
jq -e .probes <<<"$report" >/dev/null 2>&1 || die "bin/kretspan check --json ${defaults[*]} printed no report"
probes=()
while IFS=$'\t' read -r spec error; do
	if [[ -z $error ]]; then
		probes+=("$spec")
	else
		log "skipping $spec: $error"
	fi
done < <(jq -r '.probes[] | [.spec, (.error // "")] | @tsv' <<<"$report")
read -r -a extra <<<"${PROBES:-}"
probes+=("${extra[@]}")
((${#probes[@]} > 0)) || die "no probe can attach on this kernel"

# Filtering: the probes cover every process on the machine, and most reads, writes and opens
# finish in a microsecond or two. Tracing all of them would flood the UI with thousands of
# one-span traces a second, and kretspan's own OTLP writes plus Jaeger's reads would feed back
# into the trace. --min-duration 10us drops the fast calls in the kernel and keeps what is worth
# looking at: reads and writes that blocked, slow opens, sleeps, connects (and, with kprobes,
# forks). A --pid or --comm filter would hide the rest of the machine, which is what the demo is
# about; use PROBES and DEMO_MIN_DURATION=0 to see everything.
# Jaeger stores traces only: kretspan's OTLP metrics (--metrics-interval) would be refused.
args=(--otlp-endpoint "http://$JAEGER_OTLP_GRPC_ENDPOINT" --metrics-interval 0)
if [[ -n $min_duration && $min_duration != 0 ]]; then
	args+=(--min-duration "$min_duration")
fi
if [[ -n $duration ]]; then
	args+=(--duration "$duration")
fi

url="$JAEGER_QUERY_URL/search${service:+?service=$service}"
log "Jaeger UI:  $url"
log "tracing:    ${probes[*]} (--min-duration ${min_duration:-0})"
if [[ -n $duration ]]; then
	log "running for $duration"
else
	log "Ctrl-C to stop kretspan and Jaeger"
fi
echo
echo "    Open $url"
echo

# --- 5. trace ----------------------------------------------------------------------------------
# kretspan runs in the background so this shell can wait for it and still react to signals; it
# gets SIGINT from the terminal (Ctrl-C) itself, and from cleanup() otherwise.
set +e
# sh -c 'echo $$; exec ...' records kretspan's own pid (exec keeps it), so that the signal goes to
# kretspan and not to sudo, which does not relay signals from its own process group.
pidfile=$run_dir/kretspan.pid
rm -f "$pidfile"
# shellcheck disable=SC2016 # $$, $0 and $@ are the inner shell's
$SUDO sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" env ${service:+OTEL_SERVICE_NAME="$service"} bin/kretspan "${args[@]}" "${probes[@]}" &
kretspan_pid=$!
status=0
while :; do
	wait "$kretspan_pid"
	status=$?
	# wait returns early (status > 128) when a trapped signal arrives; kretspan is then still
	# flushing. Forward the interrupt (harmless if Ctrl-C reached it already) and wait again.
	if kill -0 "$kretspan_pid" 2>/dev/null; then
		stop_kretspan
		continue
	fi
	break
done
kretspan_pid=
set -e

# --- 6. what reached Jaeger --------------------------------------------------------------------
sleep 1 # Jaeger's own batch processor (200 ms) makes the last spans queryable
# kretspan's spans are the ones with kretspan.probe.kind. Each traced process is its service
# (unless OTEL_SERVICE_NAME names one), so one line per service: its kernel spans by operation.
# httpservice's also sit inside its own request traces.
kernel_spans='[.data[] | .processes as $p | .spans[] | select($p[.processID].serviceName == $name and any(.tags[]; .key == "kretspan.probe.kind")) | .operationName]'
if services=$(curl -fsS --max-time 10 "$JAEGER_QUERY_URL/api/services" 2>/dev/null | jq -r '.data[]?' | sort); then
	log "Jaeger's services with kernel spans:"
	while IFS= read -r name; do
		body=$(curl -fsS --max-time 10 -G "$JAEGER_QUERY_URL/api/traces" --data-urlencode "service=$name" \
			-d limit=100000 -d lookback=1h 2>/dev/null) || continue
		jq -r --arg name "$name" "$kernel_spans"' | select(length > 0)
			| "\($name): \(length) spans (" + (group_by(.) | map("\(length) \(.[0])") | join(", ")) + ")"' <<<"$body" |
			sed 's/^/[demo]     /' >&2
	done <<<"$services"
fi
if ((status != 0)) && ((!interrupted)); then
	die "kretspan exited with status $status"
fi
log "done; stopping Jaeger"
exit 0
