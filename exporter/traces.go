package exporter

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kretspan/kretspan/otelbridge"
)

// The OTLP protocols kretspan speaks, by the names OTEL_EXPORTER_OTLP_PROTOCOL gives them.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// TracesOTLP names the OTLP span exporter, the default.
const TracesOTLP = "otlp"

// Destination is what the span exporters may need: the resolved OTLP endpoint, protocol and
// client settings, and the writer the console prints to.
type Destination struct {
	Endpoint string
	Protocol string     // ProtocolGRPC (or "") or ProtocolHTTP
	Client   OTLPClient // over http/protobuf; otlptracegrpc reads the same variables itself
	Console  io.Writer
}

// OTLPClient is how an OTLP client sends one signal: what the OTEL_EXPORTER_OTLP_* variables
// other than the endpoint and protocol say, resolved by the caller (package config). The zero
// value is the variables' defaults.
type OTLPClient struct {
	Headers           map[string]string // added to every request; names lower-case
	Gzip              bool              // compress request bodies
	Timeout           time.Duration     // of an export, its retries included; 0: 10 s
	Certificate       string            // PEM file of the CA to trust over TLS; "": the system's
	ClientCertificate string            // PEM files of the certificate presented over TLS and its key
	ClientKey         string
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
			return NewOTLPHTTP(d.Endpoint, d.Client)
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
