package exporter

import (
	"errors"
	"fmt"
	"sync/atomic"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/kretspan/kretspan/otelbridge"
)

// TraceCodec is the gRPC codec kretspan's OTLP client sends with. otlptracegrpc takes protobuf
// structs, but a batch is encoded already: the exporter hands the client a stand-in request
// (batchStandIn), and the codec sends the batch's bytes in its place. Any other message (the
// export's response, a request of real structs) goes to the "proto" codec registered with gRPC,
// so do not register TraceCodec under that name itself.
type TraceCodec struct {
	batch atomic.Pointer[otelbridge.Batch] // the batch the stand-in stands for
}

// MaxTraceRequestSize is otlptracegrpc's default request limit (64 MiB). TraceCodec enforces it,
// from the batch's length, in place of the client, whose check costs a proto.Size walk of every
// request.
const MaxTraceRequestSize = 64 << 20

// batchStandIn is the ResourceSpans the exporter hands otlptracegrpc for a batch; the codec
// recognizes it by address.
var batchStandIn = []*tracepb.ResourceSpans{{}}

// Name is gRPC's proto codec's name, so the content type stays application/grpc+proto.
func (*TraceCodec) Name() string { return grpcproto.Name }

// Marshal encodes v. A batch's request is sent as its own buffers, without a copy: the batch is
// not reused before the export returns, and gRPC writes the message before the call returns.
func (c *TraceCodec) Marshal(v any) (mem.BufferSlice, error) {
	request, ok := v.(*collectortracepb.ExportTraceServiceRequest)
	if !ok || len(request.GetResourceSpans()) != 1 || request.ResourceSpans[0] != batchStandIn[0] {
		codec, err := registeredProtoCodec()
		if err != nil {
			return nil, err
		}
		return codec.Marshal(v)
	}
	b := c.batch.Load()
	if b == nil {
		return nil, errors.New("encode OTLP trace request: no batch is being exported")
	}
	pieces := b.Request()
	if err := checkRequestSize(pieces); err != nil {
		return nil, err
	}
	data := make(mem.BufferSlice, 0, len(pieces))
	for _, piece := range pieces {
		data = append(data, mem.SliceBuffer(piece))
	}
	return data, nil
}

func requestSize(pieces [][]byte) int {
	n := 0
	for _, piece := range pieces {
		n += len(piece)
	}
	return n
}

// checkRequestSize refuses a request over MaxTraceRequestSize, which receivers refuse too.
func checkRequestSize(pieces [][]byte) error {
	if size := requestSize(pieces); size > MaxTraceRequestSize {
		return fmt.Errorf("encode OTLP trace request: %d bytes exceeds the limit of %d", size, MaxTraceRequestSize)
	}
	return nil
}

// Unmarshal decodes with gRPC's proto codec: kretspan only ever decodes the small response.
func (*TraceCodec) Unmarshal(data mem.BufferSlice, v any) error {
	codec, err := registeredProtoCodec()
	if err != nil {
		return err
	}
	return codec.Unmarshal(data, v)
}

// registeredProtoCodec is looked up per call, so that a proto codec registered in place of
// gRPC's own (by a program's init) is the one used, as it would be without TraceCodec.
func registeredProtoCodec() (encoding.CodecV2, error) {
	if codec := encoding.GetCodecV2(grpcproto.Name); codec != nil {
		return codec, nil
	}
	return nil, fmt.Errorf("no gRPC codec named %q is registered", grpcproto.Name)
}
