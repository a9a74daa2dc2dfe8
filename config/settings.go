package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/exporter"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// DefaultEndpoint receives traces and metrics when no setting names an endpoint.
const DefaultEndpoint = "http://localhost:4317"

// Settings is everything a run is configured with.
type Settings struct {
	ConfigFile        string // the config file read, if any
	Exporter          string // otlp, console or none
	Traces, Metrics   OTLPSignal
	Duration          time.Duration // 0: until interrupted
	PIDs              []uint32
	Comm              string
	Cgroups           []string // as given: cgroup v2 directories, relative ones under the v2 mount
	Containers        []string // container ids or prefixes, checked by cgroup.ParseContainerID
	KernelThreads     bool
	Filter            Filter // of every probe, under each probe's own
	MaxInflight       uint32 // 0: bpf's choice
	MaxGlob           int
	RingBufferSize    uint32
	BatchSize         int
	BatchTimeout      time.Duration
	QueueBatches      int
	MetricsExporter   string        // otlp, prometheus or none; unset: otlp when spans go over OTLP
	MetricsInterval   time.Duration // of OTLP metrics; 0: none
	PrometheusAddress string        // host:port of /metrics, with the prometheus metrics exporter
	ShutdownTimeout   time.Duration // the most the exports still queued at the end may take, together
	BlockedStacks     bool          // with --sched: each call's longest block's stacks
	BlockedStackMin   time.Duration // the shortest block that gets its stacks
	// ServiceName is the service.name of every span when the user names one; "" gives each
	// process its own.
	ServiceName        string
	ProcessCommandLine bool // process.command_line on each process's resource
	NoCorrelation      bool
	Correlate          []string
	BPFFS              string
	ArgStringMax       int // bytes of each captured string or path
	Probes             []Probe
}

// OTLPSignal is where and how one signal is exported, resolved from the settings and the
// environment.
type OTLPSignal struct {
	Endpoint string              // an http (plaintext) or https URL; for http/protobuf, the full URL of the signal
	Protocol string              // ProtocolGRPC or ProtocolHTTP
	Client   exporter.OTLPClient // from the client variables (environment.go)

	from endpointSource // which kind of setting gave Endpoint
}

// The OTLP protocols kretspan speaks; package exporter owns their names.
const (
	ProtocolGRPC = exporter.ProtocolGRPC
	ProtocolHTTP = exporter.ProtocolHTTP
)

// DefaultHTTPEndpoint receives a signal over http/protobuf when no setting names an endpoint.
const DefaultHTTPEndpoint = "http://localhost:4318"

// endpointSource says where an endpoint came from, which decides its path over HTTP.
type endpointSource int

const (
	endpointDefault endpointSource = iota
	endpointGeneric                // a base URL for every signal: the signal's path is appended
	endpointSignal                 // the signal's own URL, used as it is
)

// DefaultPrometheusAddress serves Prometheus's /metrics when no setting names an address: the
// host and port the OpenTelemetry specification gives OTEL_EXPORTER_PROMETHEUS_HOST and _PORT.
const DefaultPrometheusAddress = "localhost:9464"

// Filter holds in-kernel filters; nil fields are unset, leaving the choice to a wider filter.
type Filter struct {
	MinDuration *time.Duration
	ErrorsOnly  *bool
	Sample      *float64
	NotFailures *errno.Set
	Sched       *bool // the scheduler split on each span
	Args        *bool // capture every argument at entry (a probe's own list overrides it)
}

// Probe is one probe spec with its own filters.
type Probe struct {
	Spec   probe.Spec
	Filter Filter
}

// ProbeFilter is p's in-kernel filter: its own settings over the run's.
func (s Settings) ProbeFilter(p Probe) bpf.Filter {
	f := s.probeFilter(p)
	return bpf.Filter{MinDuration: valueOr(f.MinDuration, 0), ErrorsOnly: valueOr(f.ErrorsOnly, false), SampleRatio: valueOr(f.Sample, 0),
		NotFailures: valueOr(f.NotFailures, errno.DefaultSet()), Sched: valueOr(f.Sched, false)}
}

// ProbeArgs says whether p captures every argument: its own setting over the run's.
func (s Settings) ProbeArgs(p Probe) bool { return valueOr(s.probeFilter(p).Args, false) }

// probeFilter is p's filter settings: each one p sets over the run's.
func (s Settings) probeFilter(p Probe) Filter {
	f := s.Filter
	for _, st := range settings {
		if st.probe {
			st.bind.(filterBinding).override(&f, p.Filter)
		}
	}
	return f
}

func valueOr[T any](v *T, unset T) T {
	if v == nil {
		return unset
	}
	return *v
}

// setting is one setting: everything kretspan knows about it.
type setting struct {
	flag  string // without dashes; "" for a config-file-only setting
	key   string // in the config file; "" for a flag-only setting
	usage string // for --help; a `quoted` word names the value
	probe bool   // a probe of a config file may have its own
	env   []envVar
	bind  binding
}

// envVar sets a setting from the environment; later ones in a setting's list win.
type envVar struct {
	name string
	bind binding
}

var (
	tracesSignal  = func(s *Settings) *OTLPSignal { return &s.Traces }
	metricsSignal = func(s *Settings) *OTLPSignal { return &s.Metrics }
	endpoints     = each{endpoint{tracesSignal, endpointGeneric}, endpoint{metricsSignal, endpointGeneric}}
	protocols     = each{protocol(tracesSignal), protocol(metricsSignal)}
)

// endpoint sets a signal's endpoint and records from which kind of setting it came.
type endpoint struct {
	signal func(*Settings) *OTLPSignal
	from   endpointSource
}

func (b endpoint) scalar() scalar[string] {
	return scalar[string]{func(s *Settings) *string { return &b.signal(s).Endpoint }, stringKind, DefaultEndpoint, CheckEndpoint}
}

func (b endpoint) reset(s *Settings) {
	b.scalar().reset(s)
	b.signal(s).from = endpointDefault
}

func (b endpoint) set(s *Settings, text string) error {
	if err := b.scalar().set(s, text); err != nil {
		return err
	}
	b.signal(s).from = b.from
	return nil
}

func (b endpoint) decode(s *Settings, node *yaml.Node) error {
	text, err := scalarText(node)
	if err != nil {
		return err
	}
	return b.set(s, text)
}

func (b endpoint) defaultText() string { return b.scalar().defaultText() }
func (b endpoint) arg() string         { return b.scalar().arg() }
func (b endpoint) boolean() bool       { return false }

// protocol is a signal's protocol; "" until resolve, when no setting names one.
func protocol(signal func(*Settings) *OTLPSignal) scalar[string] {
	return scalar[string]{func(s *Settings) *string { return &signal(s).Protocol }, stringKind, "", checkProtocol}
}

func checkProtocol(p string) error {
	if p == ProtocolGRPC || p == ProtocolHTTP {
		return nil
	}
	return fmt.Errorf("kretspan supports only the OTLP protocols %s and %s", ProtocolGRPC, ProtocolHTTP)
}

// resolve completes a signal once every setting is applied. With no protocol given, an
// endpoint on port 4318, OTLP/HTTP's port, means http/protobuf, and any other grpc: the
// OpenTelemetry specification's default is http/protobuf, but kretspan has always sent gRPC,
// and its users' endpoints expect that. Over HTTP, a base URL (not the signal's own) gets the
// signal's path, and the default endpoint is OTLP/HTTP's.
func (o *OTLPSignal) resolve(path string) {
	if o.Protocol == "" {
		o.Protocol = ProtocolGRPC
		if u, err := url.Parse(o.Endpoint); err == nil && u.Port() == "4318" {
			o.Protocol = ProtocolHTTP
		}
	}
	if o.Protocol != ProtocolHTTP {
		return
	}
	switch o.from {
	case endpointDefault:
		o.Endpoint = DefaultHTTPEndpoint + path
	case endpointGeneric:
		o.Endpoint = strings.TrimSuffix(o.Endpoint, "/") + path
	}
}

var (
	traceExporter   = scalar[string]{func(s *Settings) *string { return &s.Exporter }, stringKind, exporter.TraceExporterNames()[0], oneOf(exporter.TraceExporterNames()...)}
	metricsExporter = scalar[string]{func(s *Settings) *string { return &s.MetricsExporter }, stringKind, "", oneOf(exporter.MetricsExporterNames()...)}
)

var serviceName = scalar[string]{func(s *Settings) *string { return &s.ServiceName }, stringKind, "", nil}

var (
	prometheusAddressField = func(s *Settings) *string { return &s.PrometheusAddress }
	prometheusAddress      = scalar[string]{prometheusAddressField, stringKind, DefaultPrometheusAddress, checkAddress}
)

// settings is every setting, in the order of the documentation.
var settings = []setting{
	{flag: "config", usage: "YAML `file` with these settings and per-probe filters",
		bind: scalar[string]{func(s *Settings) *string { return &s.ConfigFile }, stringKind, "", nil}},
	{flag: "exporter", key: "exporter", usage: "where spans go: " + alternatives(exporter.TraceExporterNames()) + " (over OTEL_TRACES_EXPORTER)",
		bind: traceExporter, env: []envVar{{"OTEL_TRACES_EXPORTER", traceExporter}}},
	{flag: "metrics-exporter", key: "metrics_exporter", usage: "where the ledger's metrics go: " + alternatives(exporter.MetricsExporterNames()) + " (default: otlp when spans go over OTLP, else none; over OTEL_METRICS_EXPORTER)",
		bind: metricsExporter, env: []envVar{{"OTEL_METRICS_EXPORTER", metricsExporter}}},
	{flag: "prometheus-address", key: "prometheus_address", usage: "`host:port` that serves Prometheus's /metrics, with --metrics-exporter prometheus (over OTEL_EXPORTER_PROMETHEUS_HOST and OTEL_EXPORTER_PROMETHEUS_PORT, which set its parts)",
		bind: prometheusAddress,
		env: []envVar{
			{"OTEL_EXPORTER_PROMETHEUS_HOST", addressPart{prometheusAddressField, hostPart}},
			{"OTEL_EXPORTER_PROMETHEUS_PORT", addressPart{prometheusAddressField, portPart}},
		}},
	{flag: "otlp-endpoint", key: "otlp_endpoint", usage: "OTLP `URL` of traces and metrics; over http/protobuf, /v1/traces and /v1/metrics are appended (over OTEL_EXPORTER_OTLP_ENDPOINT and its TRACES and METRICS forms, which are used as they are)",
		bind: endpoints,
		env: []envVar{
			{"OTEL_EXPORTER_OTLP_ENDPOINT", endpoints},
			{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint{tracesSignal, endpointSignal}},
			{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint{metricsSignal, endpointSignal}},
		}},
	{flag: "otlp-protocol", key: "otlp_protocol", usage: "OTLP `protocol` of traces and metrics: grpc or http/protobuf (default: http/protobuf for an endpoint on port 4318, else grpc; over OTEL_EXPORTER_OTLP_PROTOCOL and its TRACES and METRICS forms)",
		bind: protocols,
		env: []envVar{
			{"OTEL_EXPORTER_OTLP_PROTOCOL", protocols},
			{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol(tracesSignal)},
			{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", protocol(metricsSignal)},
		}},
	{flag: "duration", key: "duration", usage: "stop after this long (default: until SIGINT or SIGTERM)",
		bind: scalar[time.Duration]{func(s *Settings) *time.Duration { return &s.Duration }, durationKind, 0, notNegative}},
	{flag: "pid", key: "pids", usage: "trace only this process `id` (repeatable)",
		bind: list[uint32]{func(s *Settings) *[]uint32 { return &s.PIDs }, pidKind}},
	{flag: "comm", key: "comm", usage: "trace only threads with this command `name`",
		bind: scalar[string]{func(s *Settings) *string { return &s.Comm }, stringKind, "", bpf.CheckComm}},
	{flag: "cgroup", key: "cgroups", usage: "trace only tasks in this cgroup v2 `directory` or below it; a relative path is under the cgroup v2 mount (repeatable)",
		bind: list[string]{func(s *Settings) *[]string { return &s.Cgroups }, stringKind}},
	{flag: "container", key: "containers", usage: "trace only tasks in this container: its `id`, or a unique prefix of at least 12 hex digits (repeatable)",
		bind: list[string]{func(s *Settings) *[]string { return &s.Containers }, containerIDKind}},
	{flag: "kernel-threads", key: "kernel_threads", usage: "trace kernel threads too",
		bind: scalar[bool]{func(s *Settings) *bool { return &s.KernelThreads }, boolKind, false, nil}},
	{flag: "min-duration", key: "min_duration", probe: true, usage: "drop calls faster than this, in the kernel",
		bind: filter[time.Duration]{func(f *Filter) **time.Duration { return &f.MinDuration }, durationKind, notNegative}},
	{flag: "errors-only", key: "errors_only", probe: true, usage: "keep only calls that failed: a negative errno not among --not-failures",
		bind: filter[bool]{func(f *Filter) **bool { return &f.ErrorsOnly }, boolKind, nil}},
	{flag: "sample", key: "sample", probe: true, usage: "keep this `ratio` of call trees (0 < RATIO <= 1), decided at the outermost call",
		bind: filter[float64]{func(f *Filter) **float64 { return &f.Sample }, ratioKind, func(r float64) error {
			if !(r > 0 && r <= 1) {
				return errors.New("want a ratio with 0 < RATIO <= 1")
			}
			return nil
		}}},
	{flag: "not-failures", key: "not_failures", probe: true, usage: fmt.Sprintf("errno `names` that are outcomes, not failures: no error status, and --errors-only drops them (default %s; %s: every errno is a failure)", errno.DefaultSet(), errno.None),
		bind: filter[errno.Set]{func(f *Filter) **errno.Set { return &f.NotFailures }, errnoSetKind, nil}},
	{flag: "sched", key: "sched", probe: true, usage: "add each call's on-CPU, run-queue and blocked time and its context switches to its span",
		bind: filter[bool]{func(f *Filter) **bool { return &f.Sched }, boolKind, nil}},
	{flag: "blocked-stacks", key: "blocked_stacks", usage: "with --sched: add the kernel and user stacks where each call's longest block began, as a span event",
		bind: scalar[bool]{func(s *Settings) *bool { return &s.BlockedStacks }, boolKind, false, nil}},
	{flag: "blocked-stack-min", key: "blocked_stack_min", usage: "the shortest block that --blocked-stacks reports",
		bind: scalar[time.Duration]{func(s *Settings) *time.Duration { return &s.BlockedStackMin }, durationKind, time.Millisecond, notNegative}},
	{flag: "args", key: "args", probe: true, usage: "capture every argument of each call at entry, as " + argspec.AttributePrefix + "NAME attributes (off by default: strings can hold secrets); PROBE(ARG, ...) captures only those named",
		bind: filter[bool]{func(f *Filter) **bool { return &f.Args }, boolKind, nil}},
	{flag: "arg-string-max", key: "arg_string_max", usage: fmt.Sprintf("capture at most this many `bytes` of each string or path argument (1 to %d); longer ones are marked %sNAME%s", argspec.MaxStringMax, argspec.AttributePrefix, argspec.TruncatedSuffix),
		bind: scalar[int]{func(s *Settings) *int { return &s.ArgStringMax }, intKind, argspec.DefaultStrMax, argspec.CheckStringMax}},
	{flag: "max-inflight", key: "max_inflight", usage: fmt.Sprintf("bound the `threads` with probed calls in flight (the kretprobe maxactive), their stacks in a preallocated table (default: each thread's stack in its task storage on kernels 5.11+, else a table of %d)", bpf.DefaultMaxInflight),
		bind: scalar[uint32]{func(s *Settings) *uint32 { return &s.MaxInflight }, uint32Kind, 0, func(n uint32) error { return atLeast(1, int(n)) }}},
	{flag: "max-glob", key: "max_glob", usage: "most targets the probes may expand to",
		bind: scalar[int]{func(s *Settings) *int { return &s.MaxGlob }, intKind, 1000, func(n int) error { return atLeast(1, n) }}},
	{flag: "ringbuf-size", key: "ringbuf_size", usage: "ring buffer `bytes` (a power of two)",
		bind: scalar[uint32]{func(s *Settings) *uint32 { return &s.RingBufferSize }, uint32Kind, 8 << 20, bpf.CheckRingBufferSize}},
	{flag: "batch-size", key: "batch_size", usage: "spans per OTLP export",
		bind: scalar[int]{func(s *Settings) *int { return &s.BatchSize }, intKind, otelbridge.DefaultBatchSize, func(n int) error { return atLeast(1, n) }}},
	{flag: "batch-timeout", key: "batch_timeout", usage: "longest wait before a partial batch is exported",
		bind: scalar[time.Duration]{func(s *Settings) *time.Duration { return &s.BatchTimeout }, durationKind, otelbridge.DefaultBatchTimeout, positive}},
	{flag: "queue-batches", key: "queue_batches", usage: "batches that may wait for export; more are dropped and counted",
		bind: scalar[int]{func(s *Settings) *int { return &s.QueueBatches }, intKind, otelbridge.DefaultQueueBatches, func(n int) error { return atLeast(1, n) }}},
	{flag: "metrics-interval", key: "metrics_interval", usage: "export the ledger and latency histograms as OTLP metrics this often (0: never); Prometheus scrapes when it likes",
		bind: scalar[time.Duration]{func(s *Settings) *time.Duration { return &s.MetricsInterval }, durationKind, 10 * time.Second, notNegative}},
	{flag: "shutdown-timeout", key: "shutdown_timeout", usage: "at the end, wait at most this long in all for queued exports; what is left counts as failed (a second SIGINT or SIGTERM stops waiting)",
		bind: scalar[time.Duration]{func(s *Settings) *time.Duration { return &s.ShutdownTimeout }, durationKind, 5 * time.Second, positive}},
	{flag: "service-name", key: "service_name", usage: "service.name of every span (default: each process's own: its OTEL_SERVICE_NAME, else its executable's name; over OTEL_SERVICE_NAME)",
		bind: serviceName, env: []envVar{{"OTEL_SERVICE_NAME", serviceName}}},
	{flag: "process-command-line", key: "process_command_line", usage: "put each process's command line on its resource (process.command_line); command lines may hold secrets",
		bind: scalar[bool]{func(s *Settings) *bool { return &s.ProcessCommandLine }, boolKind, false, nil}},
	{flag: "correlate", key: "correlate", usage: "also find the span-binding marker in this `binary` (repeatable; running processes are scanned anyway)",
		bind: list[string]{func(s *Settings) *[]string { return &s.Correlate }, stringKind}},
	{flag: "no-correlation", key: "no_correlation", usage: "do not parent calls under application spans (neither the marker nor traces_ctx_v1)",
		bind: scalar[bool]{func(s *Settings) *bool { return &s.NoCorrelation }, boolKind, false, nil}},
	{flag: "bpffs", key: "bpffs", usage: "bpffs `mount` holding the shared map otel/traces_ctx_v1",
		bind: scalar[string]{func(s *Settings) *string { return &s.BPFFS }, stringKind, "/sys/fs/bpf", nil}},
	{key: "probes", bind: probes{}}, // on the command line: the arguments
}

// addressPart sets the host or the port of a host:port setting, as OTEL_EXPORTER_PROMETHEUS_HOST
// and OTEL_EXPORTER_PROMETHEUS_PORT do; the rest of the address stays as the earlier sources
// left it.
type addressPart struct {
	field func(*Settings) *string
	part  int // hostPart or portPart
}

const (
	hostPart = iota
	portPart
)

func (addressPart) reset(*Settings) {} // the whole address's own binding resets it

func (b addressPart) set(s *Settings, text string) error {
	host, port, err := net.SplitHostPort(*b.field(s))
	if err != nil {
		return fmt.Errorf("the address %q: %w", *b.field(s), err) // checked where it was set, so never
	}
	check := checkPort
	if b.part == hostPart {
		text = strings.TrimSuffix(strings.TrimPrefix(text, "["), "]") // an IPv6 address, bracketed or not
		check = checkHost
	}
	if err := check(text); err != nil {
		return valueError{strconv.Quote(text), err}
	}
	if b.part == hostPart {
		host = text
	} else {
		port = text
	}
	*b.field(s) = net.JoinHostPort(host, port)
	return nil
}

func (b addressPart) decode(s *Settings, node *yaml.Node) error {
	text, err := scalarText(node)
	if err != nil {
		return err
	}
	return b.set(s, text)
}

func (addressPart) defaultText() string { return "" }
func (addressPart) arg() string         { return "string" }
func (addressPart) boolean() bool       { return false }

// checkAddress checks a host:port to listen on. Its host may not be left out: listening on every
// interface is a choice to write down (0.0.0.0 or ::), not a default to fall into.
func checkAddress(address string) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("want HOST:PORT, such as %s", DefaultPrometheusAddress)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	return checkPort(port)
}

func checkHost(host string) error {
	if host == "" {
		return errors.New("want a host name or IP address (0.0.0.0 or :: for every interface)")
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("%q is not a host name or IP address", host)
		}
	}
	return nil
}

func checkPort(port string) error {
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return errors.New("want a port number from 1 to 65535")
	}
	return nil
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("want %s", alternatives(values))
	}
}

// alternatives lists values as a sentence does: "a, b or c".
func alternatives(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

func notNegative(d time.Duration) error {
	if d < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

func positive(d time.Duration) error {
	if d <= 0 {
		return errors.New("must be positive")
	}
	return nil
}

func atLeast(least, n int) error {
	if n < least {
		return fmt.Errorf("must be at least %d", least)
	}
	return nil
}

// probes is the probe list: spec strings, or mappings of a spec and its own filters.
type probes struct{}

func (probes) reset(s *Settings) { s.Probes = nil }

func (probes) set(s *Settings, text string) error {
	spec, err := probe.Parse(text)
	if err != nil {
		return err
	}
	s.Probes = append(s.Probes, Probe{Spec: spec})
	return nil
}

func (b probes) decode(s *Settings, node *yaml.Node) error {
	return decodeList(node, func(i int, item *yaml.Node) error {
		if err := b.decodeProbe(s, resolveAlias(item)); err != nil {
			return itemError{i, err}
		}
		return nil
	}, func() { b.reset(s) })
}

func (probes) decodeProbe(s *Settings, node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		text, err := scalarText(node)
		if err != nil {
			return err
		}
		return probes{}.set(s, text)
	}
	var p Probe
	var spec *yaml.Node
	err := eachKey(node, func(key string, value *yaml.Node) error {
		if key == "spec" {
			spec = value
			return nil
		}
		for _, st := range settings {
			if st.probe && st.key == key {
				if err := st.bind.(filterBinding).decodeFilter(&p.Filter, value); err != nil {
					return named(key, err)
				}
				return nil
			}
		}
		return fmt.Errorf("unknown probe setting %q (want one of %s)", key, strings.Join(probeKeys(), ", "))
	})
	if err != nil {
		return err
	}
	if spec == nil {
		return errors.New("missing spec")
	}
	text, err := scalarText(spec)
	if errors.Is(err, errEmpty) || err == nil && strings.TrimSpace(text) == "" {
		return errors.New("missing spec")
	}
	if err != nil {
		return fmt.Errorf("spec %w", err)
	}
	if p.Spec, err = probe.Parse(text); err != nil {
		return err
	}
	s.Probes = append(s.Probes, p)
	return nil
}

func probeKeys() []string {
	keys := []string{"spec"}
	for _, st := range settings {
		if st.probe {
			keys = append(keys, st.key)
		}
	}
	return keys
}

func (probes) defaultText() string { return "" }
func (probes) arg() string         { return "" }
func (probes) boolean() bool       { return false }
