// Package exporter holds kretspan's exporters: the [otelbridge.Sink]s its spans go to, one row
// each in the table of traces.go (otlp, console, none), and the OTLP metrics of its ledger.
//
// The OTLP span exporter speaks the protocol of its [Destination]: grpc through otlptracegrpc's
// client, requests encoded by [TraceCodec], which wraps package otlpwire; or http/protobuf
// through [OTLPHTTP], which POSTs otlpwire's bytes and follows otlptracehttp (environment,
// retries on 429, 502, 503 and 504 with Retry-After, google.rpc.Status messages, partial
// success to OpenTelemetry's error handler). Metrics go through otlpmetricgrpc or
// otlpmetrichttp, by protocol. They send to the endpoint URL their constructor is given. Its scheme decides the transport, http
// for plaintext and https for TLS, unless a certificate variable is set, which makes a gRPC
// connection TLS for an http URL too. The clients
// read the rest of the standard environment themselves, explicit options taking precedence:
//
//	OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_HEADERS     extra request headers
//	OTEL_EXPORTER_OTLP_CERTIFICATE, ..._CLIENT_CERTIFICATE, ..._CLIENT_KEY (and _TRACES_, _METRICS_ forms)   TLS
//	OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_COMPRESSION   gzip
//	OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_TIMEOUT     per-export timeout
//
// OTEL_EXPORTER_OTLP_INSECURE and its per-signal forms are read too, but the endpoint URL's scheme
// wins over them. Where to send is the caller's to resolve (package config: flags,
// OTEL_EXPORTER_OTLP_ENDPOINT and its _TRACES_ and _METRICS_ forms, the config file, a default),
// and the endpoint given wins over those variables. Package config also checks the headers,
// compression, timeout and insecure variables before the clients start, since a client falls
// back to its default on a malformed value.
package exporter
