#!/usr/bin/env bash
# Build the Jaeger all-in-one binary (Jaeger v2, Go module version below) from
# the Go module proxy into a cache, only when it is not there yet.
#
# Usage: tools/jaeger/build.sh            # prints the binary path on stdout
#   JAEGER_BIN=/path/to/jaeger             # where the binary lives (override)
#   JAEGER_REBUILD=1                       # rebuild even if the binary exists
#   JAEGER_PROGRESS_INTERVAL=30            # seconds between elapsed-time lines
#
# Progress and messages go to stderr; the only line on stdout is the binary
# path, so callers can do: bin=$(tools/jaeger/build.sh)
#
# The version is pinned by tools/jaeger/go.mod (`go get -tool ...@VERSION`).
# Keep JAEGER_VERSION below in sync when bumping it there.
set -euo pipefail

JAEGER_VERSION=v1.76.0
# The Jaeger v2 release built from that module version (reported by
# `jaeger version`; also the jaegertracing/jaeger image tag in docker-compose.yml).
JAEGER_V2_VERSION=v2.13.0
JAEGER_PKG=github.com/jaegertracing/jaeger/cmd/jaeger

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/kretspan
bin=${JAEGER_BIN:-$cache_root/jaeger-$JAEGER_VERSION}
interval=${JAEGER_PROGRESS_INTERVAL:-30}

log() { printf '[jaeger-build] %s\n' "$*" >&2; }

if [[ -x $bin && -z ${JAEGER_REBUILD:-} ]]; then
	log "using cached $bin"
	printf '%s\n' "$bin"
	exit 0
fi

# Make sure go.mod really pins the version this script names.
pinned=$(cd "$here" && go list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)
if [[ $pinned != "$JAEGER_VERSION" ]]; then
	log "error: tools/jaeger/go.mod pins jaeger $pinned, build.sh expects $JAEGER_VERSION"
	exit 1
fi

log "building Jaeger $JAEGER_VERSION into $bin"
log "NOTE: the first build compiles ~2300 packages and takes ~4-10 minutes on"
log "      2 cores with cold Go caches (measured: 4-8.5 min),"
log "      and yields a ~120 MB binary; later builds reuse the Go build cache."
log "progress: one 'compiled' line per package (go build -v), plus an"
log "          elapsed-time line every ${interval}s"

mkdir -p "$(dirname "$bin")"
tmp=$(mktemp "$bin.tmp.XXXXXX")
start=$(date +%s)

# Heartbeat: an elapsed-time line every $interval seconds, so quiet phases
# (downloads, the final link) still show that the build is alive. Its sleep is
# killed with it, so no stray process keeps the caller's stdout/stderr open.
(
	trap 'kill "$nap" 2>/dev/null; wait "$nap"; exit 0' TERM
	while :; do
		sleep "$interval" &
		nap=$!
		wait "$nap"
		log "... still building, $(($(date +%s) - start))s elapsed"
	done
) >/dev/null &
ticker=$!
cleanup() {
	kill "$ticker" 2>/dev/null || true
	wait "$ticker" 2>/dev/null || true
	rm -f "$tmp"
}
trap cleanup EXIT

# go build -v prints each package as it is compiled (stderr). Prefix the lines
# and count them so the log reads well in a terminal and in CI.
# The process substitution ends with "__EXIT__ N", N being go build's status.
n=0
status=1
while IFS= read -r line; do
	if [[ $line == __EXIT__* ]]; then
		status=${line#__EXIT__ }
		continue
	fi
	n=$((n + 1))
	printf '[jaeger-build] %4d %4ds %s\n' "$n" "$(($(date +%s) - start))" "$line" >&2
done < <(
	cd "$here" && CGO_ENABLED=0 go build -v -trimpath \
		-ldflags "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_V2_VERSION" \
		-o "$tmp" "$JAEGER_PKG" 2>&1
	echo "__EXIT__ $?"
)
if [[ $status != 0 ]]; then
	log "error: go build failed (exit $status) after $(($(date +%s) - start))s"
	exit "$status"
fi

chmod 0755 "$tmp"
mv -f "$tmp" "$bin"
log "done in $(($(date +%s) - start))s: $bin ($(du -h "$bin" | cut -f1))"
printf '%s\n' "$bin"
