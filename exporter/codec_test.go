package exporter

import (
	"strings"
	"sync/atomic"
	"testing"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/otelbridge"
)

func TestTraceCodecRefusesWhatProtobufRefuses(t *testing.T) {
	codec := TraceCodec{}
	if _, err := codec.Marshal((*collectortracepb.ExportTraceServiceRequest)(nil)); err == nil {
		t.Error("encoded a nil request")
	}
	// A task may name itself with any bytes; protobuf strings must be UTF-8.
	invalid := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		Attributes: []*commonpb.KeyValue{{Key: otelbridge.AttrThreadName, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "bad\xff"}}}},
	}}}}}}}
	if _, err := proto.Marshal(invalid); err == nil {
		t.Fatal("protobuf-go encoded invalid UTF-8")
	}
	if _, err := codec.Marshal(invalid); err == nil || !strings.Contains(err.Error(), `"bad\xff" is not valid UTF-8`) {
		t.Errorf("error %v, want one naming the invalid string", err)
	}
	if _, err := codec.Marshal(42); err == nil {
		t.Error("encoded an int")
	}
	huge := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{SchemaUrl: strings.Repeat("x", MaxTraceRequestSize)}}}
	if _, err := codec.Marshal(huge); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("a request over %d bytes: error %v, want the limit named", MaxTraceRequestSize, err)
	}
}

func TestTraceCodecDelegatesOtherMessages(t *testing.T) {
	codec := TraceCodec{}
	if codec.Name() != "proto" {
		t.Errorf("Name %q: the content type would not be application/grpc+proto", codec.Name())
	}
	sent := &collectortracepb.ExportTraceServiceResponse{PartialSuccess: &collectortracepb.ExportTracePartialSuccess{RejectedSpans: 3, ErrorMessage: "full"}}
	data, err := codec.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Free()
	var received collectortracepb.ExportTraceServiceResponse
	if err := codec.Unmarshal(data, &received); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(sent, &received) {
		t.Errorf("round trip gave %v, want %v", &received, sent)
	}
}

// countRequestsThroughProtoCodec wraps gRPC's registered proto codec, until the test ends, to count
// the trace requests it encodes: with TraceCodec in place, the OTLP client hands it none.
func countRequestsThroughProtoCodec(t *testing.T) *atomic.Int64 {
	registered := encoding.GetCodecV2("proto")
	counting := &countingCodec{CodecV2: registered}
	encoding.RegisterCodecV2(counting)
	t.Cleanup(func() { encoding.RegisterCodecV2(registered) })
	return &counting.requests
}

type countingCodec struct {
	encoding.CodecV2
	requests atomic.Int64
}

func (c *countingCodec) Marshal(v any) (mem.BufferSlice, error) {
	if _, ok := v.(*collectortracepb.ExportTraceServiceRequest); ok {
		c.requests.Add(1)
	}
	return c.CodecV2.Marshal(v)
}
