package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
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
	AttrOutcome    = "kretspan.outcome"
)

// Where the ledger's metrics may go (--metrics-exporter, OTEL_METRICS_EXPORTER).
const (
	MetricsOTLP = "otlp"
	MetricsNone = "none"
)

// MetricsExporterNames lists the metrics exporters by the names users choose them by.
func MetricsExporterNames() []string { return []string{MetricsOTLP, MetricsNone} }

// LedgerSource is what the metrics read each interval: the kernel's per-probe counters (indexed by
// probe id) and the pipeline.
type LedgerSource struct {
	Counts   func() ([]bpf.ProbeCounts, error)
	Pipeline *otelbridge.Pipeline
}

// metricExporter is what otlpmetricgrpc's and otlpmetrichttp's exporters share.
type metricExporter interface {
	Export(context.Context, *metricdata.ResourceMetrics) error
	Shutdown(context.Context) error
}

// Metrics exports kretspan's ledger and in-kernel latency histograms as OpenTelemetry metrics
// over OTLP, gRPC or HTTP, every interval and once more at the end.
type Metrics struct {
	exporter metricExporter
	endpoint string
	resource *resource.Resource
	targets  []probe.Target
	source   LedgerSource
	start    time.Time
	exemplar []otelbridge.Exemplar // the slowest span of each probe in the last interval, kept for the next ones
	// refused is set once the endpoint has answered Unimplemented: it stores no metrics, so
	// kretspan sends none.
	refused atomic.Bool
}

// NewMetrics connects an OTLP metrics exporter to endpoint, a URL as for NewOTLP (over
// http/protobuf, the signal's full URL), by protocol; the clients read the rest of their
// settings from the environment.
func NewMetrics(ctx context.Context, endpoint, protocol string, res *resource.Resource, targets []probe.Target, source LedgerSource) (*Metrics, error) {
	if endpoint == "" {
		return nil, errors.New("OTLP metrics exporter: no endpoint")
	}
	var exporter metricExporter
	var err error
	switch protocol {
	case "", ProtocolGRPC:
		exporter, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(endpoint))
	case ProtocolHTTP:
		exporter, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(endpoint))
	default:
		err = fmt.Errorf("no OTLP protocol named %q (want %s or %s)", protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP metrics exporter: %w", err)
	}
	return &Metrics{exporter: exporter, endpoint: endpoint, resource: res, targets: targets, source: source, start: time.Now()}, nil
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

// Run exports every interval until ctx ends; Close makes the final export. A failed interval is
// not reported: the next one carries the same cumulative values. When the endpoint refuses
// metrics, Run calls refused once with a *RefusedError and exports no more, Close included.
func (m *Metrics) Run(ctx context.Context, interval time.Duration, refused func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if err := m.export(ctx); m.refused.Load() {
				refused(err)
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// Close makes the final export, unless the endpoint refused metrics, and shuts the exporter
// down, both within ctx. Call it after Run has returned.
func (m *Metrics) Close(ctx context.Context) error {
	var err error
	switch {
	case m.refused.Load():
	case ctx.Err() != nil: // the time for it went to the spans' exports
		err = fmt.Errorf("no final metrics export: %w", context.Cause(ctx))
	default:
		err = m.export(ctx)
	}
	// The exporter closes its connection with ctx ended; that it ended is in err already.
	if shutdownErr := m.exporter.Shutdown(ctx); shutdownErr != nil && (ctx.Err() == nil || !errors.Is(shutdownErr, ctx.Err())) {
		err = errors.Join(err, fmt.Errorf("shut down the metrics exporter: %w", shutdownErr))
	}
	return err
}

func (m *Metrics) export(ctx context.Context) error {
	counters, err := m.source.Counts()
	if err != nil {
		return err
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
	rm := BuildMetrics(m.resource, m.targets, counters, m.source.Pipeline.Stats(), m.exemplar, m.start, time.Now())
	if err := m.exporter.Export(ctx, &rm); err != nil {
		if answer := refusal(err); answer != "" {
			m.refused.Store(true)
			return &RefusedError{Endpoint: m.endpoint, Answer: answer, Err: err}
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
	for _, t := range targets {
		c := counters[t.ID]
		probeAttrs := []attribute.KeyValue{attribute.String(otelbridge.AttrProbeTarget, t.Label()), attribute.String(otelbridge.AttrProbeKind, string(t.Kind))}
		for _, k := range bpf.Counters() {
			attrs := attribute.NewSet(append(probeAttrs, attribute.String(AttrOutcome, k.Outcome()))...)
			calls.DataPoints = append(calls.DataPoints, metricdata.DataPoint[int64]{Attributes: attrs, StartTime: start, Time: now, Value: int64(c.Counts[k])})
		}
		inFlight.DataPoints = append(inFlight.DataPoints, metricdata.DataPoint[int64]{Attributes: attribute.NewSet(probeAttrs...), Time: now, Value: int64(c.InFlight())})
		durations.DataPoints = append(durations.DataPoints, durationPoint(attribute.NewSet(probeAttrs...), &c, exemplarOf(exemplars, t.ID), start, now))
	}
	spans := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	for _, outcome := range []struct {
		name  string
		count uint64
	}{{"received", stats.Received}, {"exported", stats.Exported}, {"dropped_queue_full", stats.DroppedQueue}, {"export_failed", stats.ExportFailed}} {
		spans.DataPoints = append(spans.DataPoints, metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(attribute.String(AttrOutcome, outcome.name)), StartTime: start, Time: now, Value: int64(outcome.count)})
	}
	return metricdata.ResourceMetrics{
		Resource: res,
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Scope: instrumentation.Scope{Name: otelbridge.ScopeName, Version: otelbridge.Version},
			Metrics: []metricdata.Metrics{
				{Name: MetricCalls, Description: "Calls of each probe by what became of them; entered = submitted + filtered + sampled out + dropped + missed + in flight.", Unit: "{call}", Data: calls},
				{Name: MetricInFlight, Description: "Calls entered whose return has not come yet.", Unit: "{call}", Data: inFlight},
				{Name: MetricSpans, Description: "Events read from the kernel by what became of them in user space.", Unit: "{span}", Data: spans},
				{Name: MetricDuration, Description: "Duration of every call that returned, filtered and sampled out ones included.", Unit: "ns", Data: durations},
			},
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
