package exporter

import (
	"context"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// fixedClock converts monotonic to Unix time with a known offset and never resyncs.
func fixedClock(offset int64) *otelbridge.WallClock {
	const mono = 1_000_000
	return otelbridge.NewWallClock(otelbridge.Clocks{Monotonic: func() int64 { return mono }, Realtime: func() int64 { return mono + offset }})
}

func testEvent(probeID uint32, ret int64, comm string) bpf.Event {
	e := bpf.Event{
		SpanId:       0x1122334455667788,
		ParentSpanId: 0x99aabbccddeeff01,
		StartNs:      5_000_000_000,
		EndNs:        5_000_123_456,
		Ret:          ret,
		Pid:          1234,
		Tid:          1240,
		ProbeId:      probeID,
		Cpu:          6,
	}
	for i := range e.TraceId {
		e.TraceId[i] = byte(i + 1)
	}
	copy(e.Comm[:], comm)
	return e
}

// testProbes is a probe table: index 0 unused, 1 a syscall, 2 a uprobe.
func testProbes() []otelbridge.ProbeInfo {
	return []otelbridge.ProbeInfo{{},
		otelbridge.NewProbeInfo(probe.Target{ID: 1, Kind: probe.KindSyscall, Name: "openat", ReturnsErrno: true}, errno.DefaultSet()),
		otelbridge.NewProbeInfo(probe.Target{ID: 2, Kind: probe.KindUprobe, Name: "main.handle", Binary: "/usr/bin/app"}, errno.DefaultSet()),
	}
}

func testResource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "exporter-test"}}}}}
}

func newTestPipeline(t *testing.T, sink otelbridge.Sink, opts ...otelbridge.Option) *otelbridge.Pipeline {
	t.Helper()
	p, err := otelbridge.NewPipeline(sink, testProbes(), testResource(), fixedClock(0), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func closePipeline(t *testing.T, p *otelbridge.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
