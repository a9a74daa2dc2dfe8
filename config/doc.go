// Package config owns the settings of a kretspan run: one table (settings.go) declares each
// setting's flag, config-file key, default, environment variables and check, and flag parsing,
// the config file, the environment, validation and the --help listing all follow from it.
//
// A setting's value comes from, later winning: its default, the YAML file named by --config, the
// environment, and the flags on the command line. A repeatable flag (--pid, --cgroup, --container,
// --correlate) adds to the file's list. Each value is checked where it is given, even when a later
// source overrides it. An empty value, from a flag or a config key, is an error; a list that may be
// empty has a word for it instead (--not-failures none).
//
// # Environment variables
//
// The following environment variables say where and how OTLP data is sent. An empty or blank
// variable is as if it were unset, as the OpenTelemetry specification says.
//
// OTEL_TRACES_EXPORTER (default: "otlp") - where spans go: otlp, console or none, as --exporter
// and the exporter key, which override it.
//
// OTEL_METRICS_EXPORTER (default: "otlp" when spans go over OTLP, else "none") - where the
// ledger's metrics go: otlp or none, as --metrics-exporter and metrics_exporter, which override it.
//
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (default: "http://localhost:4317") -
// target of the OTLP exporters of spans and of metrics. The per-signal variables override
// OTEL_EXPORTER_OTLP_ENDPOINT. All three override otlp_endpoint in the config file, and
// --otlp-endpoint overrides them all. The value is a URL: http for plaintext gRPC, https for TLS
// (a certificate variable makes an http URL's connection TLS too; see package exporter). The
// resolved URL of each signal is in [Settings.Traces] and [Settings.Metrics].
//
// Over http/protobuf, OTEL_EXPORTER_OTLP_ENDPOINT, otlp_endpoint and --otlp-endpoint are base
// URLs, to which the signal's path (/v1/traces, /v1/metrics) is appended; the per-signal
// variables are used as they are; with no endpoint given, it is "http://localhost:4318" and the
// path.
//
// OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
// OTEL_EXPORTER_OTLP_METRICS_PROTOCOL - grpc or http/protobuf; anything else is refused. They
// override otlp_protocol, and --otlp-protocol overrides them. With no protocol given anywhere, an
// endpoint on port 4318 means http/protobuf and any other grpc: not the specification's default
// (http/protobuf), because kretspan's users rely on gRPC. Resolved in [OTLPSignal.Protocol].
//
// OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT
// (default: "10000") - the longest an export may take, in milliseconds: a positive whole number.
//
// OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_TRACES_INSECURE,
// OTEL_EXPORTER_OTLP_METRICS_INSECURE (default: "false") - true or false. The endpoint URL's
// scheme decides between plaintext and TLS, and wins over these.
//
// OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
// OTEL_EXPORTER_OTLP_METRICS_COMPRESSION (default: none) - gzip or none.
//
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_METRICS_HEADERS
// (default: none) - request headers as comma-separated key=value pairs, values percent-encoded,
// e.g. "authorization=Bearer%20token,tenant=a".
//
// OTEL_SERVICE_NAME (default: "kretspan") - the resource's service.name; valid UTF-8.
//
// OTEL_RESOURCE_ATTRIBUTES (default: none) - more resource attributes as comma-separated
// key=value pairs, values percent-encoded; valid UTF-8 once decoded.
//
// Only the endpoints and protocols are settings here. The clients in package exporter read the
// other variables themselves, along with the certificate variables (OTEL_EXPORTER_OTLP_CERTIFICATE,
// ..._CLIENT_CERTIFICATE, ..._CLIENT_KEY), which kretspan passes on unchecked. kretspan checks the
// variables listed here first, because a client falls back to its default on a malformed value,
// and sending data somewhere the user did not ask for is worse than refusing to start.
package config
