// Package otelbridge turns kretspan's kernel records into OpenTelemetry spans.
//
// Each [bpf.Event] becomes one span built directly as OTLP protobuf (no SDK tracer per span),
// timed in wall-clock time by a [WallClock], its attributes filled from one table (span.go),
// batched, queued in a bounded queue whose overflow is counted, and handed to a [Sink]. The
// sinks (OTLP, the console, nothing) are in package exporter.
//
// The resource honours OTEL_SERVICE_NAME (default "kretspan") and OTEL_RESOURCE_ATTRIBUTES.
package otelbridge
