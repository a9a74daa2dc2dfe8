package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// backend is a real program the end-to-end tests run, built from the Go module proxy by a script
// under tools/ into the user's cache. `make e2e-test` runs each script and passes the path in
// envVar; without it, the tests ask the script where it caches the binary.
type backend struct {
	name, envVar, script string
}

var (
	backendJaeger     = backend{"Jaeger", "KRETSPAN_JAEGER_BIN", "tools/jaeger/build.sh"}
	backendCollector  = backend{"OpenTelemetry Collector", "KRETSPAN_OTELCOL_BIN", "tools/otelcol/build.sh"}
	backendPrometheus = backend{"Prometheus", "KRETSPAN_PROMETHEUS_BIN", "tools/prometheus/build.sh"}
)

// backendBinary finds b's binary, or skips the test saying how to get it. The tests never build
// one themselves: a cold build takes minutes.
func backendBinary(t *testing.T, b backend) string {
	t.Helper()
	bin := os.Getenv(b.envVar)
	if bin == "" {
		out, err := exec.Command(filepath.Join(repoRoot(t), b.script), "--path").Output()
		if err != nil {
			t.Skipf("no %s binary: %s is not set and %s --path failed (%v); run make e2e-test", b.name, b.envVar, b.script, err)
		}
		bin = strings.TrimSpace(string(out))
	}
	if info, err := os.Stat(bin); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Skipf("no %s binary at %s (set %s, or run make e2e-test, which builds it with %s)", b.name, bin, b.envVar, b.script)
	}
	return bin
}
