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
// The following environment variables say where and how OTLP data is sent, and where metrics are
// served. An empty or blank variable is as if it were unset, as the OpenTelemetry specification
// says.
//
// OTEL_TRACES_EXPORTER (default: "otlp") - where spans go: otlp, console or none, as --exporter
// and the exporter key, which override it.
//
// OTEL_METRICS_EXPORTER (default: "otlp" when spans go over OTLP, else "none") - where the
// ledger's metrics go: otlp, prometheus or none, as --metrics-exporter and metrics_exporter, which
// override it.
//
// OTEL_EXPORTER_PROMETHEUS_HOST (default: "localhost"), OTEL_EXPORTER_PROMETHEUS_PORT (default:
// "9464") - where the prometheus metrics exporter serves /metrics. Each sets its part of the
// address: of prometheus_address in the config file if it gives one, which they override, and
// --prometheus-address overrides both. The host is a host name or an IP address (IPv6 with or
// without brackets), the port a number from 1 to 65535. Resolved in [Settings.PrometheusAddress].
//
// OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (default: "http://localhost:4317") -
// target of the OTLP exporters of spans and of metrics. The per-signal variables override
// OTEL_EXPORTER_OTLP_ENDPOINT. All three override otlp_endpoint in the config file, and
// --otlp-endpoint overrides them all. The value is a URL: http for plaintext, https for TLS
// (over gRPC, a certificate variable makes an http URL's connection TLS too; see package
// exporter). The resolved URL of each signal is in [Settings.Traces] and [Settings.Metrics].
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
// The client variables that follow have no flag or config key. Each is resolved for each signal,
// into [OTLPSignal.Client]: the signal's own variable (its TRACES or METRICS form) if set, else
// the general one, each variable on its own, as the OpenTelemetry specification says.
//
// OTEL_EXPORTER_OTLP_TIMEOUT, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT
// (default: "10000") - the longest an export may take, its retries included, in milliseconds: a
// positive whole number.
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
// e.g. "authorization=Bearer%20token,tenant=a". A signal's own list replaces the general one. A
// name is compared without its case, and a name given twice keeps its last value. An error
// quotes only the malformed pair, since the others may be credentials.
//
// OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
// OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE (default: the system's CAs) - PEM file of the CA trusted
// over TLS.
//
// OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
// OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_KEY,
// OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY (default: none) - PEM
// files of the certificate presented over TLS and of its key. A signal left with one and not the
// other is refused.
//
// OTEL_SERVICE_NAME (default: "kretspan") - the resource's service.name; valid UTF-8.
//
// OTEL_RESOURCE_ATTRIBUTES (default: none) - more resource attributes as comma-separated
// key=value pairs, values percent-encoded; valid UTF-8 once decoded.
//
// Only the exporters, the endpoints, the protocols and the Prometheus address are settings with
// flags and config keys. Spans over http/protobuf are sent as the Client of [Settings.Traces]
// says: package exporter's sender is given it and reads no environment. otlptracegrpc, which
// sends spans over gRPC, and the metrics clients read the client variables themselves.
// kretspan checks every variable here, even one that a signal's own overrides, because a client
// falls back to its default on a malformed value, and sending data somewhere the user did not
// ask for is worse than refusing to start. The certificate files are read when the exporters
// start.
package config
