package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/testprocess"
)

// TestArgumentsToJaeger traces the driver's openat and read with --args into a real Jaeger, and
// checks that Jaeger returns the path the driver opened, the descriptor and buffer size it read
// with, and the path of the file behind that descriptor.
func TestArgumentsToJaeger(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	dir := t.TempDir()
	if err := testprocess.BuildPrograms(dir, false, "kretspan", "driver"); err != nil {
		t.Fatal(err)
	}
	assets, _ := uiAssets(t)
	j := startJaeger(t, jaegerBin, assets)
	file := filepath.Join(dir, "known")
	if err := os.WriteFile(file, []byte("known contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := filepath.EvalSymlinks(file)
	if err != nil {
		t.Fatal(err)
	}

	service := fmt.Sprintf("kretspan-args-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	d := testprocess.StartWorkload(t, filepath.Join(dir, "driver"))
	k := testprocess.StartKretspan(t, filepath.Join(dir, "kretspan"), []string{"OTEL_SERVICE_NAME=" + service},
		"--otlp-endpoint", j.otlpEndpoint, "--pid", strconv.FormatInt(d.PID, 10), "--batch-timeout", "50ms",
		"--args", "syscall:openat", "syscall:read(fd, count)")
	missing := "/nonexistent/kretspan-args-e2e"
	if got := d.Do(t, "open "+missing); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	if got := d.Do(t, "read "+file); got != "read 15" {
		t.Fatalf("driver: %s", got)
	}
	k.Stop(t)
	// The driver's two openat (the missing path, the file), its read of the file, and the reads
	// of its commands from stdin.
	traces := j.waitForSpans(t, service, 4, 20*time.Second)
	tags := map[string][]map[string]string{}
	for _, tr := range traces {
		for _, s := range tr.Spans {
			m := map[string]string{}
			for _, kv := range s.Tags {
				m[kv.Key], _ = tag(s.Tags, kv.Key)
			}
			tags[s.OperationName] = append(tags[s.OperationName], m)
		}
	}
	var sawMissing, sawFile, sawRead bool
	for _, m := range tags["openat"] {
		switch m["kretspan.arg.filename"] {
		case missing:
			sawMissing = m["kretspan.return_value"] == "-2" && m["error.type"] == "ENOENT"
		case file:
			sawFile = true
		}
	}
	for _, m := range tags["read"] {
		if m["file.path"] == file {
			sawRead = m["kretspan.arg.count"] == "4096" && m["kretspan.return_value"] == "15" && m["kretspan.arg.fd"] != ""
		}
		if _, ok := m["kretspan.arg.buf"]; ok {
			t.Errorf("read exported its buffer pointer: %v", m)
		}
	}
	if !sawMissing || !sawFile || !sawRead {
		t.Errorf("Jaeger's spans: openat of %s failing with ENOENT %v, openat of %s %v, read of it with count 4096 returning 15 %v:\nopenat %v\nread %v\n%s",
			missing, sawMissing, file, sawFile, sawRead, tags["openat"], tags["read"], k.Stderr())
	}
}
