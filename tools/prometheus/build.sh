#!/usr/bin/env bash
# Build the Prometheus server (Prometheus 3.x) from the Go module proxy into a cache, only when
# it is not there yet. Prints the binary's path on stdout, progress on stderr. --path prints
# where it is or would be, and builds nothing.
#   PROMETHEUS_BIN=/path/to/prometheus   where the binary lives (override)
#   PROMETHEUS_REBUILD=1                 rebuild even if the binary exists
#   PROMETHEUS_PROGRESS_INTERVAL=30      seconds between elapsed-time lines
# The version is pinned by tools/prometheus/go.mod (`go get -tool ...@VERSION`); keep VERSION
# below in step when bumping it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../build-from-module.sh"

NAME=prometheus
VERSION=v0.316.0
MODULE=github.com/prometheus/prometheus
PACKAGE=github.com/prometheus/prometheus/cmd/prometheus
NOTE="the first build compiles ~1050 packages: several minutes on 2 cores with cold Go caches, a ~72 MB binary"
# Module v0.3XY.Z is release v3.XY.Z, which `prometheus --version` reports. remove_all_sd leaves
# out the cloud service discoveries (Kubernetes, AWS, Azure, GCE, ...), a third of the packages:
# the tests scrape static targets. The web UI's assets are not embedded (that needs the
# release's npm build); the HTTP API, which the tests use, is all there.
GO_BUILD_ARGS=(-tags remove_all_sd -ldflags "-X github.com/prometheus/common/version.Version=3.16.0")
build_from_module "$@"
