// Package exporter holds kretspan's exporters: the [otelbridge.Sink]s its spans go to (OTLP gRPC,
// the console, none) and the OTLP metrics of its ledger.
//
// The OTLP exporters are otlptracegrpc's and otlpmetricgrpc's clients, trace requests encoded by
// [TraceCodec]. They send to the endpoint their constructor is given, and read the rest of the
// standard environment, explicit options taking precedence over it:
//
//	OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_INSECURE   plaintext gRPC
//	OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_HEADERS     extra request headers
//	OTEL_EXPORTER_OTLP_CERTIFICATE, ..._CLIENT_CERTIFICATE, ..._CLIENT_KEY (and _TRACES_, _METRICS_ forms)   TLS
//	OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_COMPRESSION   gzip
//	OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_{TRACES,METRICS}_TIMEOUT     per-export timeout
//
// Where to send is the caller's to resolve (flags, OTEL_EXPORTER_OTLP_ENDPOINT and its _TRACES_
// and _METRICS_ forms, a default), and the endpoint given wins over those variables.
package exporter
