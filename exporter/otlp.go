package exporter

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"google.golang.org/grpc"

	"github.com/kretspan/kretspan/otelbridge"
)

// OTLP exports spans through OTLP gRPC with otlptracegrpc's client, which retries transient
// failures.
type OTLP struct {
	client otlptrace.Client
	codec  *TraceCodec
}

// NewOTLP connects an OTLP gRPC client to endpoint, a URL: http for plaintext, https for TLS.
// Options come after the endpoint and the environment's settings, so they win.
//
// Batches go out as the bytes the pipeline encoded, through TraceCodec, which enforces the request
// size limit in place of the client. It is set as a dial option, so opts must not replace the
// dial options (otlptracegrpc.WithDialOption, WithGRPCConn).
func NewOTLP(ctx context.Context, endpoint string, opts ...otlptracegrpc.Option) (*OTLP, error) {
	if endpoint == "" {
		return nil, errors.New("start OTLP client: no endpoint")
	}
	codec := &TraceCodec{}
	opts = append([]otlptracegrpc.Option{
		otlptracegrpc.WithEndpointURL(endpoint),
		otlptracegrpc.WithDialOption(grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec))),
		otlptracegrpc.WithMaxRequestSize(0), // TraceCodec enforces MaxTraceRequestSize
	}, opts...)
	client := otlptracegrpc.NewClient(opts...)
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start OTLP client: %w", err)
	}
	return &OTLP{client: client, codec: codec}, nil
}

func (s *OTLP) Export(ctx context.Context, b *otelbridge.Batch) error {
	s.codec.batch.Store(b)
	defer s.codec.batch.Store(nil)
	if err := s.client.UploadTraces(ctx, batchStandIn); err != nil {
		return fmt.Errorf("export %d spans over OTLP: %w", b.Len(), err)
	}
	return nil
}

func (s *OTLP) Shutdown(ctx context.Context) error { return s.client.Stop(ctx) }
