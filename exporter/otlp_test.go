package exporter

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

// clearOTELEnv keeps the runner's environment out of resource and exporter settings.
func clearOTELEnv(t *testing.T) {
	for _, name := range []string{
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_COMPRESSION",
	} {
		t.Setenv(name, "")
	}
}

func kernelRelease(t *testing.T) string {
	var uname unix.Utsname
	if err := unix.Uname(&uname); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(uname.Release[:])
}

// exportThroughOTLP runs a pipeline into a real OTLP gRPC receiver on loopback, with the sink
// options opts, and returns what arrived. It checks that TraceCodec, not gRPC's proto codec,
// encoded the requests.
func exportThroughOTLP(t *testing.T, events []bpf.Event, opts ...otlptracegrpc.Option) []otlpreceiver.Span {
	t.Helper()
	protoCodecRequests := countRequestsThroughProtoCodec(t)
	receiver, err := otlpreceiver.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sink, err := NewOTLP(ctx, receiver.Endpoint(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	resource, err := otelbridge.NewResource(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := otelbridge.NewPipeline(sink, testProbes(), resource, fixedClock(1_700_000_000_000_000_000), otelbridge.WithBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		p.Add(&events[i])
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := p.Stats()
	if st.Exported != uint64(len(events)) || st.ExportFailed != 0 || p.LastError() != nil {
		t.Fatalf("stats %+v, last error %v", st, p.LastError())
	}
	if n := protoCodecRequests.Load(); n != 0 {
		t.Errorf("gRPC's proto codec encoded %d trace requests: TraceCodec is not in use", n)
	}
	return receiver.WaitFor(5*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= len(events) })
}

func TestOTLPRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []otlptracegrpc.Option
	}{
		{"uncompressed", nil},
		{"gzip", []otlptracegrpc.Option{otlptracegrpc.WithCompressor("gzip")}},
	} {
		t.Run(c.name, func(t *testing.T) { testOTLPRoundTrip(t, c.opts...) })
	}
}

func testOTLPRoundTrip(t *testing.T, opts ...otlptracegrpc.Option) {
	clearOTELEnv(t)
	child := spantest.Event(1, -2, "cat")
	root := spantest.Event(2, 7, "app")
	root.ParentSpanId = 0
	root.SpanId = 0x99aabbccddeeff01
	third := spantest.Event(1, 0, "cat")
	third.SpanId = 3
	spans := exportThroughOTLP(t, []bpf.Event{child, root, third}, opts...)
	if len(spans) != 3 {
		t.Fatalf("received %d spans, want 3", len(spans))
	}
	byName := map[string]otlpreceiver.Span{}
	for _, s := range spans {
		if s.Name == "openat" && s.Attr(otelbridge.AttrReturnValue) == int64(0) {
			continue
		}
		byName[s.Name] = s
	}
	c, r := byName["openat"], byName["main.handle"]
	if c.Span == nil || r.Span == nil {
		t.Fatalf("spans %v", spans)
	}
	if !bytes.Equal(c.ParentSpanId, r.SpanId) || !bytes.Equal(c.TraceId, r.TraceId) || len(r.ParentSpanId) != 0 {
		t.Errorf("parent/child ids: child %x parent %x, root %x parent %x", c.SpanId, c.ParentSpanId, r.SpanId, r.ParentSpanId)
	}
	if binary.BigEndian.Uint64(c.SpanId) != child.SpanId {
		t.Errorf("child span id %x", c.SpanId)
	}
	if c.Attr(otelbridge.AttrErrorType) != "ENOENT" || c.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("child error %v status %v", c.Attr(otelbridge.AttrErrorType), c.Status)
	}
	if r.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET || r.Attr(otelbridge.AttrErrorType) != nil {
		t.Errorf("root status %v", r.Status)
	}
	if got, want := c.EndTimeUnixNano-c.StartTimeUnixNano, child.EndNs-child.StartNs; got != want {
		t.Errorf("duration %d, want %d", got, want)
	}
	if c.StartTimeUnixNano != child.StartNs+1_700_000_000_000_000_000 {
		t.Errorf("start %d", c.StartTimeUnixNano)
	}
	for key, want := range map[string]any{
		otelbridge.AttrPID: int64(1234), otelbridge.AttrTID: int64(1240), otelbridge.AttrThreadName: "cat", otelbridge.AttrCPU: int64(6),
		otelbridge.AttrProbeKind: "syscall", otelbridge.AttrProbeTarget: "syscall:openat", otelbridge.AttrReturnValue: int64(-2),
	} {
		if got := c.Attr(key); got != want {
			t.Errorf("child %s = %v, want %v", key, got, want)
		}
	}
	res := c.Resource
	if res["service.name"] != otelbridge.DefaultServiceName {
		t.Errorf("service.name %v, want %q", res["service.name"], otelbridge.DefaultServiceName)
	}
	if res["os.version"] != kernelRelease(t) {
		t.Errorf("os.version %v, want the kernel release %q", res["os.version"], kernelRelease(t))
	}
	if res["os.type"] != "linux" {
		t.Errorf("os.type %v", res["os.type"])
	}
	if host, _ := res["host.name"].(string); host == "" {
		t.Errorf("no host.name in %v", res)
	}
	if res["telemetry.sdk.language"] != "go" {
		t.Errorf("telemetry.sdk.language %v", res["telemetry.sdk.language"])
	}
}

func TestOTLPResourceFromEnvironment(t *testing.T) {
	clearOTELEnv(t)
	t.Setenv("OTEL_SERVICE_NAME", "foo")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,service.name=ignored,team=kernel")
	spans := exportThroughOTLP(t, []bpf.Event{spantest.Event(1, 0, "cat")})
	if len(spans) != 1 {
		t.Fatalf("received %d spans", len(spans))
	}
	res := spans[0].Resource
	// OTEL_SERVICE_NAME beats both the default and OTEL_RESOURCE_ATTRIBUTES.
	if res["service.name"] != "foo" {
		t.Errorf("service.name %v, want foo", res["service.name"])
	}
	if res["deployment.environment"] != "test" || res["team"] != "kernel" {
		t.Errorf("resource %v lacks OTEL_RESOURCE_ATTRIBUTES", res)
	}
	if res["os.version"] != kernelRelease(t) {
		t.Errorf("os.version %v", res["os.version"])
	}
}

func TestOTLPExportFailureIsCounted(t *testing.T) {
	clearOTELEnv(t)
	// A receiver that is gone: exports fail (after the bounded export timeout) and are counted.
	receiver, err := otlpreceiver.Start()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := receiver.Endpoint()
	receiver.Stop()
	ctx := context.Background()
	sink, err := NewOTLP(ctx, endpoint, otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := otelbridge.NewPipeline(sink, testProbes(), testResource(), fixedClock(0), otelbridge.WithBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	e := spantest.Event(1, 0, "cat")
	p.Add(&e)
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = p.Close(closeCtx)
	st := p.Stats()
	if st.ExportFailed != 1 || st.Exported != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := p.LastError(); err == nil || !strings.Contains(err.Error(), "export 1 spans over OTLP") {
		t.Errorf("LastError %v", err)
	}
}
