package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Root integration tests: the real kretspan binary traces real workloads on this kernel and
// exports to a real OTLP gRPC receiver.

// TestMain removes the programs buildTools built when the tests end.
func TestMain(m *testing.M) { testprocess.Main(m) }

// buildTools builds kretspan and the workloads once per test binary. Where there is no toolchain
// (inside the kernel-matrix VMs), KRETSPAN_TEST_BIN_DIR names a folder of prebuilt static ones.
func buildTools(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KRETSPAN_TEST_BIN_DIR"); dir != "" {
		return dir
	}
	return testprocess.Built(t)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs (run as root, as .ci/run does)")
	}
}

// startKretspan starts the kretspan built into dir and waits until it has attached.
func startKretspan(t *testing.T, dir string, args ...string) *testprocess.Kretspan {
	t.Helper()
	return testprocess.StartKretspan(t, filepath.Join(dir, "kretspan"), nil, args...)
}

// startDriver starts testdata/driver.c, which the tests send commands one at a time.
func startDriver(t *testing.T, dir string) *testprocess.Workload {
	t.Helper()
	return testprocess.StartWorkload(t, filepath.Join(dir, "driver"))
}

// startReceiver starts an OTLP receiver for the test.
func startReceiver(t *testing.T) *otlpreceiver.Receiver {
	t.Helper()
	receiver, err := otlpreceiver.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(receiver.Stop)
	return receiver
}

// kernelSupports runs kretspan check --json and reports whether the named feature is there.
func kernelSupports(t *testing.T, dir, feature string) bool {
	t.Helper()
	out, err := exec.Command(filepath.Join(dir, "kretspan"), "check", "--json").Output()
	if err != nil {
		t.Fatalf("kretspan check --json: %v", err)
	}
	var report checkReport
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("kretspan check --json: %v\n%s", err, out)
	}
	for _, f := range report.Features {
		if f.Name == feature {
			return f.Supported
		}
	}
	t.Fatalf("kretspan check does not report %q:\n%s", feature, out)
	return false
}
