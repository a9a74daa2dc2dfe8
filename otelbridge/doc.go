// Package otelbridge turns kretspan's kernel records into OpenTelemetry spans and exports them.
//
// Each [bpf.Event] becomes one span built directly as OTLP protobuf (no SDK tracer per span),
// timed in wall-clock time by a [WallClock], batched, queued in a bounded queue whose overflow
// is counted, and handed to a [Sink]: OTLP gRPC, the console, or nothing.
//
// The OTLP sink is otlptracegrpc's client, its requests encoded by [TraceCodec], so the standard
// environment variables apply, with explicit options taking precedence over them:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   where to send (default http://localhost:4317)
//	OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_TRACES_INSECURE   plaintext gRPC
//	OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS     extra request headers
//	OTEL_EXPORTER_OTLP_CERTIFICATE, ..._CLIENT_CERTIFICATE, ..._CLIENT_KEY (and _TRACES_ forms)   TLS
//	OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_TRACES_COMPRESSION   gzip
//	OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT     per-export timeout
//
// The resource honours OTEL_SERVICE_NAME (default "kretspan") and OTEL_RESOURCE_ATTRIBUTES.
package otelbridge
