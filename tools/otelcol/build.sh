#!/usr/bin/env bash
# Build kretspan's OpenTelemetry Collector (main.go, components.go) from the collector modules
# that go.mod pins, into a cache, only when it is not there yet. Prints the binary's path on
# stdout, progress on stderr. --path prints where it is or would be, and builds nothing.
#   OTELCOL_BIN=/path/to/otelcol   where the binary lives (override)
#   OTELCOL_REBUILD=1              rebuild even if the binary exists
#   OTELCOL_PROGRESS_INTERVAL=30   seconds between elapsed-time lines
# Keep VERSION below and `version` in main.go in step with go.mod when bumping it; README.md
# says how.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../build-from-module.sh"

NAME=otelcol
VERSION=v0.165.0
MODULE=go.opentelemetry.io/collector/otelcol
PACKAGE=.
NOTE="the first build compiles ~740 packages: ~6 minutes on 2 cores with cold Go caches, a ~55 MB binary"
GO_BUILD_ARGS=()
build_from_module "$@"
