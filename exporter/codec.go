package exporter

import (
	"errors"
	"fmt"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/kretspan/kretspan/otlpwire"
)

// TraceCodec is the gRPC codec kretspan's OTLP client sends with. It encodes an
// ExportTraceServiceRequest with otlpwire, into a buffer from gRPC's pool, for CPU. Any other
// message (the export's response) goes to the "proto" codec registered with gRPC, so do not
// register TraceCodec under that name itself.
type TraceCodec struct{}

// MaxTraceRequestSize is otlptracegrpc's default request limit (64 MiB). TraceCodec enforces it,
// from the size it computes anyway, in place of the client, whose check costs a proto.Size walk of
// every request.
const MaxTraceRequestSize = 64 << 20

// Name is gRPC's proto codec's name, so the content type stays application/grpc+proto.
func (TraceCodec) Name() string { return grpcproto.Name }

// Marshal encodes v. The buffer comes from mem.DefaultBufferPool, and gRPC returns it there once
// the message is written, so steady exports do not allocate per span.
func (TraceCodec) Marshal(v any) (mem.BufferSlice, error) {
	request, ok := v.(*collectortracepb.ExportTraceServiceRequest)
	if !ok {
		codec, err := registeredProtoCodec()
		if err != nil {
			return nil, err
		}
		return codec.Marshal(v)
	}
	if request == nil {
		return nil, errors.New("encode OTLP trace request: the request is nil")
	}
	size := otlpwire.Size(request)
	if size > MaxTraceRequestSize {
		return nil, fmt.Errorf("encode OTLP trace request: %d bytes exceeds the limit of %d", size, MaxTraceRequestSize)
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if _, err := otlpwire.Append((*buf)[:0], request, size); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// Unmarshal decodes with gRPC's proto codec: kretspan only ever decodes the small response.
func (TraceCodec) Unmarshal(data mem.BufferSlice, v any) error {
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
