package exporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// Metric names kretspan exports over OTLP.
const (
	MetricCalls    = "kretspan.calls" // per probe and outcome: the kernel's ledger
	MetricInFlight = "kretspan.calls.in_flight"
	MetricSpans    = "kretspan.spans"         // per outcome: user space's ledger
	MetricDuration = "kretspan.call.duration" // per probe, every call, in ns
	// MetricSchedTime is the time the calls of each --sched probe spent in each state, in ns.
	MetricSchedTime = "kretspan.call.sched.time"
	AttrSchedState  = "kretspan.sched.state" // on_cpu, runqueue, blocked
	// MetricServiceSpans is spans by service.name and outcome (exported, export_failed).
	MetricServiceSpans = "kretspan.service.spans"
	// MetricProcesses is the cache of traced processes: read (at their first span) and cached (now).
	MetricProcesses = "kretspan.processes"
	AttrOutcome     = "kretspan.outcome"
	// AttrProcessState says which count of processes a kretspan.processes point is.
	AttrProcessState = "kretspan.processes.state"
)

// Where the ledger's metrics may go (--metrics-exporter, OTEL_METRICS_EXPORTER).
const (
	MetricsOTLP       = "otlp"
	MetricsPrometheus = "prometheus"
	MetricsNone       = "none"
)

// MetricsDestination is what the metrics exporters may need, resolved by package config.
type MetricsDestination struct {
	Endpoint string        // otlp: the signal's URL (over http/protobuf, its full URL)
	Protocol string        // otlp: ProtocolGRPC (or "") or ProtocolHTTP
	Interval time.Duration // otlp: how often to push; 0 sends no metrics
	// PrometheusAddress is the host:port the prometheus exporter serves /metrics on.
	PrometheusAddress string
}

// metricsExporters are the metrics exporters a user can choose (--metrics-exporter), in the
// order the help names them. open starts one for m; a nil outlet means no metrics at all.
var metricsExporters = []struct {
	name string
	open func(context.Context, MetricsDestination, *Metrics) (metricsOutlet, error)
}{
	{MetricsOTLP, openOTLPMetrics},
	{MetricsPrometheus, openPrometheus},
	{MetricsNone, func(context.Context, MetricsDestination, *Metrics) (metricsOutlet, error) { return nil, nil }},
}

// MetricsExporterNames lists the metrics exporters by the names users choose them by.
func MetricsExporterNames() []string {
	names := make([]string, len(metricsExporters))
	for i, e := range metricsExporters {
		names[i] = e.name
	}
	return names
}

// metricsOutlet is how one metrics exporter delivers what [Metrics.collect] reads: pushed on a
// timer (OTLP), or pulled by a scraper (Prometheus), which needs no timer of kretspan's.
type metricsOutlet interface {
	// run starts delivering; a pusher returns when ctx ends, a puller at once (it answers
	// until close). report gets what goes wrong meanwhile.
	run(ctx context.Context, report func(error))
	// close delivers a last time if the outlet pushes, and releases everything, within ctx.
	close(ctx context.Context) error
	// where says where the metrics go, for the user.
	where() string
}

// LedgerSource is what the metrics read: the kernel's per-probe counters (indexed by probe id)
// and the pipeline.
type LedgerSource struct {
	Counts   func() ([]bpf.ProbeCounts, error)
	Pipeline *otelbridge.Pipeline
}

// Metrics exports kretspan's ledger and in-kernel latency histograms as OpenTelemetry metrics,
// through one of the metricsExporters.
type Metrics struct {
	outlet   metricsOutlet
	resource *resource.Resource
	targets  []probe.Target
	start    time.Time

	mu       sync.Mutex            // guards what follows: scrapes may come at once
	source   LedgerSource          // set by Run; until then there is nothing to read
	exemplar []otelbridge.Exemplar // the slowest span of each probe lately, kept for the reads after
}

// NewMetrics starts the metrics exporter of that name: it connects, or listens, but delivers
// nothing until Run. It returns nil, and no error, when the choice means no metrics (none, or
// OTLP with a zero interval).
func NewMetrics(ctx context.Context, name string, d MetricsDestination, res *resource.Resource, targets []probe.Target) (*Metrics, error) {
	for _, e := range metricsExporters {
		if e.name != name {
			continue
		}
		if res == nil {
			res = resource.Empty()
		}
		m := &Metrics{resource: res, targets: targets, start: time.Now()}
		outlet, err := e.open(ctx, d, m)
		if err != nil || outlet == nil {
			return nil, err
		}
		m.outlet = outlet
		return m, nil
	}
	return nil, fmt.Errorf("no metrics exporter named %q (want one of %v)", name, MetricsExporterNames())
}

// Run starts delivering the ledger read from source. A pushing exporter (OTLP) exports every
// interval until ctx ends; a failed interval is not reported, since the next one carries the
// same cumulative values, and an endpoint that refuses metrics is reported once, as a
// *RefusedError, after which no more are sent. A pulled one (Prometheus) answers scrapes from
// now until Close, and Run returns at once. report gets what goes wrong.
func (m *Metrics) Run(ctx context.Context, source LedgerSource, report func(error)) {
	m.mu.Lock()
	m.source = source
	m.mu.Unlock()
	m.outlet.run(ctx, report)
}

// Close makes the final export of a pushing exporter (unless its endpoint refused metrics, or
// Run never started), or stops answering scrapes, and shuts the exporter down, all within ctx.
// Call it after Run has returned.
func (m *Metrics) Close(ctx context.Context) error { return m.outlet.close(ctx) }

// Where says where the metrics go: "OTLP grpc URL every 10s", "Prometheus at URL".
func (m *Metrics) Where() string { return m.outlet.where() }

// errNotRunning is collect's answer before Run.
var errNotRunning = errors.New("metrics: not running yet")

// collect reads the ledger now, as BuildMetrics lays it out.
func (m *Metrics) collect() (metricdata.ResourceMetrics, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.source.Counts == nil {
		return metricdata.ResourceMetrics{}, errNotRunning
	}
	counters, err := m.source.Counts()
	if err != nil {
		return metricdata.ResourceMetrics{}, err
	}
	exemplars := m.source.Pipeline.TakeExemplars()
	if m.exemplar == nil {
		m.exemplar = exemplars
	}
	for i, e := range exemplars {
		if e.DurationNs > 0 {
			m.exemplar[i] = e
		}
	}
	// A copy: the ids in the result point into it, and the next read may change m.exemplar.
	return BuildMetrics(m.resource, m.targets, counters, m.source.Pipeline.Stats(), slices.Clone(m.exemplar), m.start, time.Now()), nil
}

// metricExporter is what otlpmetricgrpc's and otlpmetrichttp's exporters share.
type metricExporter interface {
	Export(context.Context, *metricdata.ResourceMetrics) error
	Shutdown(context.Context) error
}

// otlpMetrics pushes the metrics over OTLP, gRPC or HTTP, every interval and once more at the end.
type otlpMetrics struct {
	m        *Metrics
	exporter metricExporter
	endpoint string
	protocol string
	interval time.Duration
	// refused is set once the endpoint has answered Unimplemented: it stores no metrics, so
	// kretspan sends none.
	refused atomic.Bool
}

// openOTLPMetrics connects an OTLP metrics exporter to d.Endpoint, a URL as for NewOTLP, by
// d.Protocol; the clients read the rest of their settings from the environment.
func openOTLPMetrics(ctx context.Context, d MetricsDestination, m *Metrics) (metricsOutlet, error) {
	if d.Interval <= 0 {
		return nil, nil
	}
	if d.Endpoint == "" {
		return nil, errors.New("OTLP metrics exporter: no endpoint")
	}
	var exporter metricExporter
	var err error
	switch d.Protocol {
	case "", ProtocolGRPC:
		exporter, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(d.Endpoint))
	case ProtocolHTTP:
		exporter, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(d.Endpoint))
	default:
		err = fmt.Errorf("no OTLP protocol named %q (want %s or %s)", d.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP metrics exporter: %w", err)
	}
	protocol := d.Protocol
	if protocol == "" {
		protocol = ProtocolGRPC
	}
	return &otlpMetrics{m: m, exporter: exporter, endpoint: d.Endpoint, protocol: protocol, interval: d.Interval}, nil
}

// RefusedError is the endpoint's answer that it does not accept metrics: a backend that stores
// only traces, such as Jaeger, answers Unimplemented.
type RefusedError struct {
	Endpoint string
	Answer   string // Unimplemented, 404 Not Found, ...
	Err      error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the OTLP endpoint %s does not accept metrics (%s)", e.Endpoint, e.Answer)
}

// refusal is the answer in err that says the endpoint takes no metrics at all, or "": gRPC's
// Unimplemented, or over HTTP no such path (404) or method (501). otlpmetrichttp reports the
// HTTP status only in its error's text.
func refusal(err error) string {
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unimplemented {
		return codes.Unimplemented.String()
	}
	for _, answer := range []string{"404 Not Found", "501 Not Implemented"} {
		if strings.Contains(err.Error(), ": "+answer+" (") {
			return answer
		}
	}
	return ""
}

func (e *RefusedError) Unwrap() error { return e.Err }

func (o *otlpMetrics) where() string {
	return fmt.Sprintf("OTLP %s %s every %v", o.protocol, o.endpoint, o.interval)
}

func (o *otlpMetrics) run(ctx context.Context, report func(error)) {
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if err := o.export(ctx); o.refused.Load() {
				report(err)
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (o *otlpMetrics) close(ctx context.Context) error {
	var err error
	switch {
	case o.refused.Load():
	case ctx.Err() != nil: // the time for it went to the spans' exports
		err = fmt.Errorf("no final metrics export: %w", context.Cause(ctx))
	default:
		if err = o.export(ctx); errors.Is(err, errNotRunning) {
			err = nil // stopped before it started: nothing to send
		}
	}
	// The exporter closes its connection with ctx ended; that it ended is in err already.
	if shutdownErr := o.exporter.Shutdown(ctx); shutdownErr != nil && (ctx.Err() == nil || !errors.Is(shutdownErr, ctx.Err())) {
		err = errors.Join(err, fmt.Errorf("shut down the metrics exporter: %w", shutdownErr))
	}
	return err
}

func (o *otlpMetrics) export(ctx context.Context) error {
	rm, err := o.m.collect()
	if err != nil {
		return err
	}
	if err := o.exporter.Export(ctx, &rm); err != nil {
		if answer := refusal(err); answer != "" {
			o.refused.Store(true)
			return &RefusedError{Endpoint: o.endpoint, Answer: answer, Err: err}
		}
		return fmt.Errorf("export metrics: %w", err)
	}
	return nil
}

// BuildMetrics turns the ledger into cumulative OpenTelemetry metrics: kretspan.calls per probe
// and outcome, kretspan.calls.in_flight, kretspan.spans per outcome, and kretspan.call.duration,
// each probe's log2 latency buckets as a base-2 exponential histogram (scale 0) with its slowest
// exported span as exemplar. Kernel bucket k holds [2^k, 2^(k+1)) ns and becomes OpenTelemetry
// bucket k, (2^k, 2^(k+1)]: only durations of exactly a power of two land one bucket off.
func BuildMetrics(res *resource.Resource, targets []probe.Target, counters []bpf.ProbeCounts, stats otelbridge.Stats,
	exemplars []otelbridge.Exemplar, start, now time.Time) metricdata.ResourceMetrics {
	calls := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	inFlight := metricdata.Gauge[int64]{}
	durations := metricdata.ExponentialHistogram[int64]{Temporality: metricdata.CumulativeTemporality}
	schedTime := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, t := range targets {
		c := counters[t.ID]
		probeAttrs := []attribute.KeyValue{attribute.String(otelbridge.AttrProbeTarget, t.Label()), attribute.String(otelbridge.AttrProbeKind, string(t.Kind))}
		for _, k := range bpf.Counters() {
			attrs := attribute.NewSet(append(probeAttrs, attribute.String(AttrOutcome, k.Outcome()))...)
			calls.DataPoints = append(calls.DataPoints, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: start, Time: now, Value: int64(c.Counts[k])})
		}
		inFlight.DataPoints = append(inFlight.DataPoints, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(probeAttrs...), Time: now, Value: int64(c.InFlight())})
		durations.DataPoints = append(durations.DataPoints, durationPoint(attribute.NewSet(probeAttrs...), &c, exemplarOf(exemplars, t.ID), start, now))
		if c.OnCpuSumNs+c.RunqueueSumNs+c.BlockedSumNs == 0 {
			continue // no split: not a --sched probe, or no call returned yet
		}
		for _, state := range []struct {
			name string
			ns   uint64
		}{{"on_cpu", c.OnCpuSumNs}, {"runqueue", c.RunqueueSumNs}, {"blocked", c.BlockedSumNs}} {
			attrs := attribute.NewSet(append(probeAttrs, attribute.String(AttrSchedState, state.name))...)
			schedTime.DataPoints = append(schedTime.DataPoints, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: start, Time: now, Value: int64(state.ns)})
		}
	}
	spans := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, outcome := range []struct {
		name  string
		count uint64
	}{{"received", stats.Received}, {"exported", stats.Exported}, {"dropped_queue_full", stats.DroppedQueue}, {"export_failed", stats.ExportFailed}} {
		spans.DataPoints = append(spans.DataPoints, metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(attribute.String(AttrOutcome, outcome.name)), StartTime: start, Time: now, Value: int64(outcome.count)})
	}
	services := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, s := range stats.ByService {
		for _, outcome := range []struct {
			name  string
			count uint64
		}{{"exported", s.Exported}, {"export_failed", s.ExportFailed}} {
			services.DataPoints = append(services.DataPoints, metricdata.DataPoint[int64]{
				Attributes: attribute.NewSet(semconv.ServiceName(s.Service), attribute.String(AttrOutcome, outcome.name)), StartTime: start, Time: now, Value: int64(outcome.count)})
		}
	}
	processes := metricdata.Gauge[int64]{DataPoints: []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String(AttrProcessState, "read")), Time: now, Value: int64(stats.ProcessesRead)},
		{Attributes: attribute.NewSet(attribute.String(AttrProcessState, "cached")), Time: now, Value: int64(stats.ProcessesCached)},
	}}
	metrics := []metricdata.Metrics{
		{Name: MetricCalls, Description: "Calls of each probe by what became of them; entered = submitted + filtered + sampled out + dropped + missed + in flight.", Unit: "{call}", Data: calls},
		{Name: MetricInFlight, Description: "Calls entered whose return has not come yet.", Unit: "{call}", Data: inFlight},
		{Name: MetricSpans, Description: "Events read from the kernel by what became of them in user space.", Unit: "{span}", Data: spans},
		{Name: MetricDuration, Description: "Duration of every call that returned, filtered and sampled out ones included.", Unit: "ns", Data: durations},
		{Name: MetricServiceSpans, Description: "Spans by the service.name of their process, by what became of them.", Unit: "{span}", Data: services},
		{Name: MetricProcesses, Description: "Traced processes: read at their first span since the start, and cached now (running, or with spans to export).", Unit: "{process}", Data: processes},
	}
	if len(schedTime.DataPoints) > 0 {
		metrics = append(metrics, metricdata.Metrics{Name: MetricSchedTime, Unit: "ns", Data: schedTime,
			Description: "Time the calls of each --sched probe that returned spent on a CPU, runnable and blocked, filtered and sampled out ones included."})
	}
	return metricdata.ResourceMetrics{
		Resource: res,
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Scope:   instrumentation.Scope{Name: otelbridge.ScopeName, Version: otelbridge.Version},
			Metrics: metrics,
		}},
	}
}

func exemplarOf(exemplars []otelbridge.Exemplar, id uint32) *otelbridge.Exemplar {
	if int(id) < len(exemplars) && exemplars[id].DurationNs > 0 {
		return &exemplars[id]
	}
	return nil
}

func durationPoint(attrs attribute.Set, c *bpf.ProbeCounts, slowest *otelbridge.Exemplar, start, now time.Time) metricdata.ExponentialHistogramDataPoint[int64] {
	first, last := -1, -1
	var count uint64
	for k, n := range c.LatencyLog2 {
		if n > 0 {
			if first < 0 {
				first = k
			}
			last = k
			count += n
		}
	}
	point := metricdata.ExponentialHistogramDataPoint[int64]{Attributes: attrs, StartTime: start, Time: now, Count: count, Sum: int64(c.LatencySumNs), Scale: 0}
	if first >= 0 {
		point.PositiveBucket = metricdata.ExponentialBucket{Offset: int32(first), Counts: append([]uint64(nil), c.LatencyLog2[first:last+1]...)}
	}
	if slowest != nil {
		point.Exemplars = []metricdata.Exemplar[int64]{{
			Time: time.Unix(0, int64(slowest.EndUnixNano)), Value: int64(slowest.DurationNs),
			TraceID: slowest.TraceID[:], SpanID: slowest.SpanID[:],
		}}
	}
	return point
}
