#!/usr/bin/env bash
# Build the Jaeger all-in-one binary (Jaeger v2) from the Go module proxy into a cache, only
# when it is not there yet. Prints the binary's path on stdout, progress on stderr. --path prints
# where it is or would be, and builds nothing.
#   JAEGER_BIN=/path/to/jaeger   where the binary lives (override)
#   JAEGER_REBUILD=1             rebuild even if the binary exists
#   JAEGER_PROGRESS_INTERVAL=30  seconds between elapsed-time lines
# The version is pinned by tools/jaeger/go.mod (`go get -tool ...@VERSION`); keep VERSION below
# in step when bumping it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../build-from-module.sh"

NAME=jaeger
VERSION=v1.76.0
MODULE=github.com/jaegertracing/jaeger
PACKAGE=github.com/jaegertracing/jaeger/cmd/jaeger
NOTE="the first build compiles ~2300 packages: 4-10 minutes on 2 cores with cold Go caches, a ~120 MB binary"
# The Jaeger v2 release built from that module version (`jaeger version`; also the
# jaegertracing/jaeger image tag in docker-compose.yml).
GO_BUILD_ARGS=(-ldflags "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v2.13.0")
build_from_module "$@"
