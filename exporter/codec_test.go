package exporter

import (
	"bytes"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/otelbridge"
)

// The stand-in request is sent as the batch's own bytes; a request of real structs is encoded by
// protobuf, as without the codec.
func TestTraceCodecSendsTheBatch(t *testing.T) {
	codec := &TraceCodec{}
	standIn := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: batchStandIn}
	if _, err := codec.Marshal(standIn); err == nil {
		t.Error("encoded the stand-in with no batch to stand for")
	}
	withBatch(t, 5, func(b *otelbridge.Batch) {
		codec.batch.Store(b)
		data, err := codec.Marshal(standIn)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := data.Materialize(), slices.Concat(b.Request()...); !bytes.Equal(got, want) {
			t.Errorf("sent %x, want the batch's request %x", got, want)
		}
		decoded, err := b.Decode()
		if err != nil {
			t.Fatal(err)
		}
		data, err = codec.Marshal(decoded)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := proto.Marshal(decoded); !bytes.Equal(data.Materialize(), want) {
			t.Error("a request of structs was not encoded as protobuf encodes it")
		}
	})
}

func TestRequestSizeLimit(t *testing.T) {
	// Zeroed allocations this large are mapped lazily: the test costs little memory.
	if err := checkRequestSize([][]byte{make([]byte, MaxTraceRequestSize/2), make([]byte, MaxTraceRequestSize/2)}); err != nil {
		t.Errorf("a request of exactly the limit: %v", err)
	}
	err := checkRequestSize([][]byte{make([]byte, MaxTraceRequestSize/2), make([]byte, MaxTraceRequestSize/2+1)})
	if err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("a request over %d bytes: error %v, want the limit named", MaxTraceRequestSize, err)
	}
}

func TestTraceCodecDelegatesOtherMessages(t *testing.T) {
	codec := &TraceCodec{}
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
