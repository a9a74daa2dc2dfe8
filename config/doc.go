// Package config owns the settings of a kretspan run: one table (settings.go) declares each
// setting's flag, config-file key, default, environment variables and check, and flag parsing,
// the config file, the environment, validation and the --help listing all follow from it.
//
// A setting's value comes from, later winning: its default, the YAML file named by --config, the
// environment, and the flags on the command line. A repeatable flag (--pid, --correlate) adds to
// the file's list. An empty value, from a flag or a config key, is an error.
//
// # Environment variables
//
// The following environment variables set where OTLP data is sent. An empty or blank variable is
// as if it were unset, as the OpenTelemetry specification says.
//
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (default: "http://localhost:4317") -
// target of the OTLP gRPC exporters of spans and of metrics. The per-signal variables override
// OTEL_EXPORTER_OTLP_ENDPOINT, and --otlp-endpoint (or otlp_endpoint in the config file, when no
// variable is set) overrides both. The value is a URL: http for plaintext gRPC, https for TLS.
// The resolved URL of each signal is in [Settings.Traces] and [Settings.Metrics].
//
// OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT
// (default: "10000") - the longest an export may take, in milliseconds: a positive whole number.
//
// OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_TRACES_INSECURE,
// OTEL_EXPORTER_OTLP_METRICS_INSECURE (default: "false") - true or false.
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
// The OpenTelemetry clients read the variables other than the endpoints themselves, and the
// certificate variables as well; kretspan checks them first, since a client falls back to its
// default on a malformed value, and a malformed value is an error here.
package config
