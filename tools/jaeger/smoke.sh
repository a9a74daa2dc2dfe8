#!/usr/bin/env bash
# End-to-end smoke test of the local Jaeger: start it on free loopback ports,
# send one trace with ./sendspan over OTLP gRPC, find it through the query API,
# stop Jaeger. Exits non-zero on any failure. A template for kretspan's own
# end-to-end tests (there: run kretspan instead of sendspan).
#
# Usage: tools/jaeger/smoke.sh      (builds Jaeger first if it is not cached)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/kretspan-jaeger-smoke.XXXXXX")
trap '"$here/stop.sh" "$run_dir" || true; rm -rf "$run_dir"' EXIT

# Four distinct TCP ports that nothing listens on (racy in theory, fine for a
# smoke test).
free_ports() {
	local ports=() p
	while ((${#ports[@]} < 4)); do
		p=$((20000 + RANDOM % 20000))
		[[ -z $(ss -Hltn "sport = :$p") && " ${ports[*]} " != *" $p "* ]] && ports+=("$p")
	done
	echo "${ports[@]}"
}
read -r JAEGER_OTLP_GRPC_PORT JAEGER_OTLP_HTTP_PORT JAEGER_QUERY_HTTP_PORT JAEGER_QUERY_GRPC_PORT < <(free_ports)
export JAEGER_OTLP_GRPC_PORT JAEGER_OTLP_HTTP_PORT JAEGER_QUERY_HTTP_PORT JAEGER_QUERY_GRPC_PORT

"$here/start.sh" "$run_dir" >/dev/null
# shellcheck source=/dev/null
source "$run_dir/jaeger.env"

service=smoke-$$
trace_id=$(cd "$here" && OTEL_EXPORTER_OTLP_ENDPOINT=http://$JAEGER_OTLP_GRPC_ENDPOINT go run ./sendspan -service "$service")
echo "sent trace $trace_id as service $service"

# Spans become queryable after the batch processor flushes (200ms here).
for _ in $(seq 50); do
	body=$(curl -fsS "$JAEGER_QUERY_URL/api/traces?service=$service")
	if [[ $body == *"\"traceID\":\"$trace_id\""* ]]; then
		echo "OK: $JAEGER_QUERY_URL/api/traces?service=$service returned trace $trace_id"
		exit 0
	fi
	sleep 0.2
done
echo "FAIL: trace $trace_id not found; last answer: $body" >&2
exit 1
