package exporter

import (
	"context"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

// fixedClock converts monotonic to Unix time with a known offset and never resyncs.
func fixedClock(offset int64) *otelbridge.WallClock {
	const mono = 1_000_000
	return otelbridge.NewWallClock(otelbridge.Clocks{Monotonic: func() int64 { return mono }, Realtime: func() int64 { return mono + offset }})
}

// testProbes is a probe table: index 0 unused, 1 a syscall, 2 a uprobe.
func testProbes() []otelbridge.ProbeInfo {
	return []otelbridge.ProbeInfo{{},
		otelbridge.NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet()),
		otelbridge.NewProbeInfo(spantest.UprobeTarget, errno.DefaultSet()),
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
