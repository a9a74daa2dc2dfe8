package exporter

import (
	"context"
	"fmt"
	"io"

	"github.com/kretspan/kretspan/otelbridge"
)

// The OTLP protocols kretspan speaks, by the names OTEL_EXPORTER_OTLP_PROTOCOL gives them.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// TracesOTLP names the OTLP span exporter, the default.
const TracesOTLP = "otlp"

// Destination is what the span exporters may need: the resolved OTLP endpoint and protocol,
// and the writer the console prints to.
type Destination struct {
	Endpoint string
	Protocol string // ProtocolGRPC (or "") or ProtocolHTTP
	Console  io.Writer
}

// traceExporters are the span exporters a user can choose (--exporter), in the order the help
// names them; the first is the default.
var traceExporters = []struct {
	name string
	new  func(context.Context, Destination) (otelbridge.Sink, error)
}{
	{TracesOTLP, func(ctx context.Context, d Destination) (otelbridge.Sink, error) {
		switch d.Protocol {
		case "", ProtocolGRPC:
			return NewOTLP(ctx, d.Endpoint)
		case ProtocolHTTP:
			return NewOTLPHTTP(d.Endpoint)
		}
		return nil, fmt.Errorf("no OTLP protocol named %q (want %s or %s)", d.Protocol, ProtocolGRPC, ProtocolHTTP)
	}},
	{"console", func(_ context.Context, d Destination) (otelbridge.Sink, error) { return NewConsole(d.Console), nil }},
	{"none", func(context.Context, Destination) (otelbridge.Sink, error) { return Discard{}, nil }},
}

// TraceExporterNames lists the span exporters by the names users choose them by.
func TraceExporterNames() []string {
	names := make([]string, len(traceExporters))
	for i, e := range traceExporters {
		names[i] = e.name
	}
	return names
}

// NewTraceExporter starts the span exporter of that name.
func NewTraceExporter(ctx context.Context, name string, d Destination) (otelbridge.Sink, error) {
	for _, e := range traceExporters {
		if e.name == name {
			return e.new(ctx, d)
		}
	}
	return nil, fmt.Errorf("no span exporter named %q (want one of %v)", name, TraceExporterNames())
}
