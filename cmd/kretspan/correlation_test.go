package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Kernel spans inside application traces: the example HTTP service binds each request's span
// with spanbind.Middleware; a C program uses kretspan_bind.h; a test fills traces_ctx_v1 as OBI
// would. The service and kretspan export to the same receiver.

type httpService struct {
	cmd  *exec.Cmd
	addr string
	pid  int64
}

func startHTTPService(t *testing.T, dir, endpoint string, args ...string) *httpService {
	t.Helper()
	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, []byte("kretspan"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &httpService{cmd: exec.Command(filepath.Join(dir, "httpservice"), append([]string{"-addr", "127.0.0.1:0", "-file", file}, args...)...)}
	s.cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT="+endpoint, "OTEL_BSP_SCHEDULE_DELAY=100")
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if _, scanErr := fmt.Sscanf(line, "listening %s pid %d", &s.addr, &s.pid); err != nil || scanErr != nil {
		t.Fatalf("httpservice said %q: %v %v", line, err, scanErr)
	}
	return s
}

// get requests path and returns the request span's trace and span IDs.
func (s *httpService) get(t *testing.T, path string) (traceID, spanID string) {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return resp.Header.Get("X-Trace-Id"), resp.Header.Get("X-Span-Id")
}

func isKernelSpan(s otlpreceiver.Span) bool { return s.Attr("kretspan.probe.kind") != nil }

func TestKernelHTTPServiceSpansInsideRequestSpans(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	receiver := startReceiver(t)
	service := startHTTPService(t, dir, receiver.Endpoint())
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(service.pid), "--batch-timeout", "50ms",
		"syscall:openat", "syscall:read", "syscall:connect")
	if !strings.Contains(k.Stderr(), "binding spans to threads in") {
		t.Fatalf("kretspan did not find the marker:\n%s", k.Stderr())
	}
	const requests = 3
	requestSpans := map[string]string{} // trace ID → request span ID
	for range requests {
		traceID, spanID := service.get(t, "/work")
		requestSpans[traceID] = spanID
	}
	service.get(t, "/unbound")

	underRequest := func(spans []otlpreceiver.Span) map[string][]otlpreceiver.Span {
		byTrace := map[string][]otlpreceiver.Span{}
		for _, s := range spans {
			if traceID := hex.EncodeToString(s.TraceId); requestSpans[traceID] != "" {
				byTrace[traceID] = append(byTrace[traceID], s)
			}
		}
		return byTrace
	}
	complete := func(spans []otlpreceiver.Span) bool {
		byTrace := underRequest(spans)
		for traceID := range requestSpans {
			names := spanNames(byTrace[traceID])
			if !slices.Contains(names, "GET /work") || !slices.Contains(names, "openat") || !slices.Contains(names, "connect") {
				return false
			}
		}
		return true
	}
	receiver.WaitFor(15*time.Second, complete)
	k.Stop(t)
	spans := receiver.Spans() // what kretspan flushed at exit too: /unbound's calls may come last
	if !complete(spans) {
		t.Fatalf("not every request trace has its server span, openat and connect: %v", spanNames(spans))
	}
	for traceID, traceSpans := range underRequest(spans) {
		var server otlpreceiver.Span
		for _, s := range traceSpans {
			if s.Name == "GET /work" {
				server = s
			}
		}
		for _, s := range traceSpans {
			if !isKernelSpan(s) {
				continue
			}
			if got := hex.EncodeToString(s.ParentSpanId); got != requestSpans[traceID] {
				t.Errorf("%s in trace %s has parent %s, want the request span %s", s.Name, traceID, got, requestSpans[traceID])
			}
			if s.StartTimeUnixNano < server.StartTimeUnixNano || s.EndTimeUnixNano > server.EndTimeUnixNano {
				t.Errorf("%s [%d, %d] lies outside its request span [%d, %d]", s.Name, s.StartTimeUnixNano, s.EndTimeUnixNano, server.StartTimeUnixNano, server.EndTimeUnixNano)
			}
			// The kernel spans' resource is the service's process, as kretspan reads it; the
			// request span's is the one the service's SDK gives it.
			if s.Resource["service.name"] != "httpservice" || s.Resource["process.pid"] != service.pid || server.Resource["service.name"] != "httpservice" {
				t.Errorf("kernel span of service %v, process %v; request span of service %v; want httpservice, process %d", s.Resource["service.name"], s.Resource["process.pid"], server.Resource["service.name"], service.pid)
			}
		}
	}
	// /unbound ran after the bindings were released, and the server's own reads of requests
	// happen before binding: both give kernel spans that are roots of traces of their own.
	var unboundOpens int
	for _, s := range spans {
		if isKernelSpan(s) && requestSpans[hex.EncodeToString(s.TraceId)] == "" {
			if len(s.ParentSpanId) != 0 {
				t.Errorf("unbound %s has parent %x", s.Name, s.ParentSpanId)
			}
			if s.Name == "openat" {
				unboundOpens++
			}
		}
	}
	if unboundOpens == 0 {
		t.Errorf("no openat outside the request traces: /unbound's calls were parented under a released binding?")
	}
}

func TestKernelUnsampledRequestsYieldNoSpans(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	receiver := startReceiver(t)
	service := startHTTPService(t, dir, receiver.Endpoint(), "-sample", "0")
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(service.pid), "--batch-timeout", "50ms", "syscall:openat", "syscall:connect")
	traceID, _ := service.get(t, "/work")
	service.get(t, "/unbound") // a marker for "the export has caught up": its openat is traced
	receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return slices.Contains(spanNames(s), "openat") })
	time.Sleep(300 * time.Millisecond)
	k.Stop(t)
	spans := receiver.Spans()
	for _, s := range spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			t.Errorf("unsampled request %s has span %s", traceID, s.Name)
		}
	}
	if row := summaryRow(t, k.Stderr(), "syscall:openat"); row[3] == 0 {
		t.Errorf("the unsampled request's openat is not counted as sampled out: %v", row)
	}
}

// A C program binds through kretspan_bind.h; see testdata/bindc.c for the four opens.
func TestKernelCHeaderBindsReleasesAndLinksSkewedClocks(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	binary := filepath.Join(dir, "bindc")
	w := testprocess.StartWorkload(t, binary)
	receiver, k := traceProcess(t, dir, w.PID, "--correlate", binary, "syscall:openat")
	w.Run(t)
	receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 3 })
	time.Sleep(200 * time.Millisecond)
	k.Stop(t)
	spans := receiver.Spans()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3 (bound, released, skewed; the unsampled one left out)", len(spans))
	}
	slices.SortFunc(spans, func(a, b otlpreceiver.Span) int { return int(a.StartTimeUnixNano - b.StartTimeUnixNano) })
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	bound, released, skewed := spans[0], spans[1], spans[2]
	if hex.EncodeToString(bound.TraceId) != traceID || hex.EncodeToString(bound.ParentSpanId) != spanID {
		t.Errorf("bound open: trace %x parent %x, want %s %s", bound.TraceId, bound.ParentSpanId, traceID, spanID)
	}
	if hex.EncodeToString(released.TraceId) == traceID || len(released.ParentSpanId) != 0 {
		t.Errorf("open after release still in the bound trace: trace %x parent %x", released.TraceId, released.ParentSpanId)
	}
	if hex.EncodeToString(skewed.TraceId) != traceID || len(skewed.ParentSpanId) != 0 || len(skewed.Links) != 1 ||
		hex.EncodeToString(skewed.Links[0].SpanId) != spanID {
		t.Errorf("skewed open: trace %x parent %x links %v; want the trace, no parent edge, a link to %s", skewed.TraceId, skewed.ParentSpanId, skewed.Links, spanID)
	}
}

// OBI (OpenTelemetry eBPF Instrumentation) fills traces_ctx_v1 with the request context of each
// thread; kretspan parents root calls under it with no change to the application.
func TestKernelSharedTraceContextMapParentsCalls(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver, k := traceProcess(t, dir, d.PID, "syscall:openat")
	contexts, err := ebpf.LoadPinnedMap(bpf.TraceContextMapPath("/sys/fs/bpf"), nil)
	if err != nil {
		t.Fatalf("kretspan did not create and pin traces_ctx_v1: %v", err)
	}
	defer contexts.Close()
	key := uint64(d.PID)<<32 | uint64(d.TID)
	var value [24]byte
	traceID, _ := hex.DecodeString("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := hex.DecodeString("b7ad6b7169203331")
	copy(value[:16], traceID)
	copy(value[16:], spanID)
	if err := contexts.Put(key, value); err != nil {
		t.Fatal(err)
	}
	d.Do(t, "open /nonexistent/kretspan/obi")
	if err := contexts.Delete(key); err != nil {
		t.Fatal(err)
	}
	d.Do(t, "open /nonexistent/kretspan/after")
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2 })
	k.Stop(t)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	slices.SortFunc(spans, func(a, b otlpreceiver.Span) int { return int(a.StartTimeUnixNano - b.StartTimeUnixNano) })
	if !bytes.Equal(spans[0].TraceId, traceID) || !bytes.Equal(spans[0].ParentSpanId, spanID) {
		t.Errorf("open under the OBI context: trace %x parent %x, want %x %x", spans[0].TraceId, spans[0].ParentSpanId, traceID, spanID)
	}
	if bytes.Equal(spans[1].TraceId, traceID) || len(spans[1].ParentSpanId) != 0 {
		t.Errorf("open after the context was removed: trace %x parent %x", spans[1].TraceId, spans[1].ParentSpanId)
	}
}

func spanNames(spans []otlpreceiver.Span) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}
