package otelbridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"google.golang.org/grpc"
)

// OTLPSink exports through OTLP gRPC with otlptracegrpc's client, which reads the
// OTEL_EXPORTER_OTLP_* environment and retries transient failures.
type OTLPSink struct {
	client otlptrace.Client
}

// DefaultEndpoint is used when neither an option nor the environment names an endpoint.
const DefaultEndpoint = "http://localhost:4317"

// NewOTLPSink connects an OTLP gRPC client. Options come after the environment's settings, so
// they win; without any endpoint setting it sends to DefaultEndpoint.
//
// Requests are encoded by TraceCodec rather than protobuf-go, for CPU, and it enforces the request
// size limit in place of the client. It is set as a dial option, so an
// otlptracegrpc.WithDialOption or WithGRPCConn among opts, which replace the dial options, turns
// it off.
func NewOTLPSink(ctx context.Context, opts ...otlptracegrpc.Option) (*OTLPSink, error) {
	opts = append([]otlptracegrpc.Option{
		otlptracegrpc.WithDialOption(grpc.WithDefaultCallOptions(grpc.ForceCodecV2(TraceCodec{}))),
		otlptracegrpc.WithMaxRequestSize(0), // TraceCodec enforces MaxTraceRequestSize
	}, opts...)
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		opts = append([]otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(DefaultEndpoint)}, opts...)
	}
	client := otlptracegrpc.NewClient(opts...)
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start OTLP client: %w", err)
	}
	return &OTLPSink{client: client}, nil
}

func (s *OTLPSink) Export(ctx context.Context, b *Batch) error {
	if err := s.client.UploadTraces(ctx, b.ResourceSpans()); err != nil {
		return fmt.Errorf("export %d spans over OTLP: %w", b.Len(), err)
	}
	return nil
}

func (s *OTLPSink) Shutdown(ctx context.Context) error { return s.client.Stop(ctx) }

// ConsoleSink prints one line per call, in the spirit of the kernel's kretprobe example.
type ConsoleSink struct {
	w *bufio.Writer
}

// NewConsoleSink writes lines to w.
func NewConsoleSink(w io.Writer) *ConsoleSink { return &ConsoleSink{w: bufio.NewWriter(w)} }

func (s *ConsoleSink) Export(_ context.Context, b *Batch) error {
	for i := range b.Len() {
		span, event, comm := b.Span(i)
		fmt.Fprintf(s.w, "%s returned %d", span.Name, event.Ret)
		if name := ErrnoName(event.Ret); name != "" && span.Status != nil {
			fmt.Fprintf(s.w, " (%s)", name)
		}
		fmt.Fprintf(s.w, " and took %d ns (pid %d tid %d comm %s)\n", event.EndNs-event.StartNs, event.Pid, event.Tid, comm)
	}
	return s.w.Flush()
}

func (s *ConsoleSink) Shutdown(context.Context) error { return s.w.Flush() }

// DiscardSink drops every span: for measuring kretspan itself.
type DiscardSink struct{}

func (DiscardSink) Export(context.Context, *Batch) error { return nil }
func (DiscardSink) Shutdown(context.Context) error       { return nil }
