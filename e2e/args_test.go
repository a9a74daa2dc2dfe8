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

// TestArgumentsToJaeger traces the driver's openat and read, and a C and a Go function, with
// --args into a real Jaeger, and checks that Jaeger returns the path the driver opened, the
// buffer size it read with and the path of the file behind that descriptor, and the arguments
// the C and Go functions were passed.
func TestArgumentsToJaeger(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	dir := testprocess.Built(t, "kretspan", "driver", "goargs")
	assets, _ := uiAssets(t)
	j := startJaeger(t, jaegerBin, assets)
	file := filepath.Join(t.TempDir(), "known")
	if err := os.WriteFile(file, []byte("known contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := filepath.EvalSymlinks(file)
	if err != nil {
		t.Fatal(err)
	}

	service := fmt.Sprintf("kretspan-args-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	driver, goargs := filepath.Join(dir, "driver"), filepath.Join(dir, "goargs")
	d := testprocess.StartWorkload(t, driver)
	g := testprocess.StartWorkload(t, goargs)
	k := testprocess.StartKretspan(t, filepath.Join(dir, "kretspan"), []string{"OTEL_SERVICE_NAME=" + service},
		"--otlp-endpoint", j.otlpEndpoint, "--pid", strconv.FormatInt(d.PID, 10), "--pid", strconv.FormatInt(g.PID, 10),
		"--batch-timeout", "50ms", "--args", "syscall:openat", "syscall:read(fd, count)",
		"uprobe:"+driver+":describe", "uprobe:"+goargs+":main.handle(n, label=tag)")
	missing := "/nonexistent/kretspan-args-e2e"
	if got := d.Do(t, "open "+missing); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	if got := d.Do(t, "read "+file); got != "read 15" {
		t.Fatalf("driver: %s", got)
	}
	if got := d.Do(t, "describe -7 kretspan"); got != fmt.Sprint("described ", -7*1000+8+'k') {
		t.Fatalf("driver: %s", got)
	}
	if got := g.Do(t, "42 gopher"); got != "handled 42006" {
		t.Fatalf("goargs: %s", got)
	}
	k.Stop(t)
	// The driver's two openat (the missing path, the file), its read of the file, the reads of
	// its commands from stdin, describe and main.handle.
	traces := j.waitForSpans(t, service, 6, 20*time.Second)
	tags := map[string][]map[string]string{}
	for _, tr := range traces {
		for _, s := range tr.Spans {
			tags[s.OperationName] = append(tags[s.OperationName], tagMap(s.Tags))
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
	for _, c := range []struct {
		name string
		want map[string]string
	}{
		{"describe", map[string]string{"kretspan.arg.n": "-7", "kretspan.arg.tag": "kretspan", "kretspan.arg.size": "8"}},
		{"main.handle", map[string]string{"kretspan.arg.n": "42", "kretspan.arg.label": "gopher"}},
	} {
		if len(tags[c.name]) != 1 {
			t.Errorf("Jaeger holds %d %s spans, want 1", len(tags[c.name]), c.name)
			continue
		}
		for key, want := range c.want {
			if got := tags[c.name][0][key]; got != want {
				t.Errorf("%s: %s = %q, want %q", c.name, key, got, want)
			}
		}
	}
	if !sawMissing || !sawFile || !sawRead {
		t.Errorf("Jaeger's spans: openat of %s failing with ENOENT %v, openat of %s %v, read of it with count 4096 returning 15 %v:\nopenat %v\nread %v\n%s",
			missing, sawMissing, file, sawFile, sawRead, tags["openat"], tags["read"], k.Stderr())
	}
}
