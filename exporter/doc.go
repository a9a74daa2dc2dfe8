// Package exporter holds kretspan's exporters: the [otelbridge.Sink]s its spans go to, one row
// each in the table of traces.go (otlp, console, none), and the OTLP metrics of its ledger.
//
// The OTLP span exporter speaks the protocol of its [Destination]: grpc through otlptracegrpc's
// client, whose [TraceCodec] sends each batch's already encoded request; or http/protobuf
// through [OTLPHTTP], which POSTs it and follows otlptracehttp (retries on 429, 502, 503 and 504
// with Retry-After, google.rpc.Status messages, partial success to OpenTelemetry's error
// handler). Metrics go through otlpmetricgrpc or otlpmetrichttp, by protocol, or are served to
// Prometheus. They send to the endpoint URL their constructor is given; its scheme decides the
// transport, http for plaintext and https for TLS.
//
// Package config is the one reader of the OTEL_EXPORTER_OTLP_* client variables (headers,
// compression, timeout, certificates, and their TRACES_ and METRICS_ forms): it checks them all
// and resolves them per signal into an [OTLPClient], which OTLPHTTP is given. otlptracegrpc and
// the metrics clients read the same variables themselves, which is why config refuses a
// malformed one instead of letting a client fall back to its default.
package exporter
