// Package deploytest checks kretspan's deployment files — docker-compose.yml
// with its Tempo and Grafana configs under deploy/, and the Kubernetes
// manifests under examples/kubernetes/ — by loading them with the same
// libraries the real tools use (compose-go, which docker compose is built on,
// and the Kubernetes API types with a strict decoder) and checking that the
// pieces fit together: ports, mounts, privileges, and that every OTLP
// endpoint names something that exists and listens there.
//
// Run from this directory: go test ./...
// KRETSPAN_REPO_ROOT overrides the repository root (default ../..).
package deploytest
