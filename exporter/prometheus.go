package exporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// PrometheusPath is where the prometheus metrics exporter answers scrapes.
const PrometheusPath = "/metrics"

// The classic buckets of kretspan_call_duration_seconds: every power of two from 2^6 ns (64 ns)
// to 2^36 ns (about 69 s), so each is the upper edge of one of the kernel's log2 buckets and a
// classic bucket holds exactly the kernel's calls below it. Shorter calls are all in the first;
// longer ones only in +Inf. The same bounds for every probe, so that series of several probes
// add up.
const (
	classicLowBucketLog2  = 6
	classicHighBucketLog2 = 36
)

// ClassicBounds are the upper bounds, in seconds, of kretspan_call_duration_seconds's buckets.
func ClassicBounds() []float64 {
	bounds := make([]float64, 0, classicHighBucketLog2-classicLowBucketLog2+1)
	for k := classicLowBucketLog2; k <= classicHighBucketLog2; k++ {
		bounds = append(bounds, float64(uint64(1)<<k)/1e9)
	}
	return bounds
}

// prometheusMetrics serves the metrics for Prometheus to scrape, through the OpenTelemetry
// Prometheus exporter. That exporter is an SDK metric reader, so it hangs off a MeterProvider
// that has no instruments: its one source is a Producer that reads the ledger at each scrape.
// Being pulled, it needs no interval: each scrape reads the kernel's counters afresh.
type prometheusMetrics struct {
	address  string
	listener net.Listener
	server   *http.Server
	provider *sdkmetric.MeterProvider
	served   chan struct{} // closed once Serve has returned; nil until run
}

// openPrometheus listens on d.PrometheusAddress at once, so that a port in use is an error
// before any probe attaches; scrapes are answered from run on.
func openPrometheus(_ context.Context, d MetricsDestination, m *Metrics) (metricsOutlet, error) {
	listener, err := net.Listen("tcp", d.PrometheusAddress)
	if err != nil {
		return nil, fmt.Errorf("serve metrics for Prometheus: %w", err)
	}
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(registry),
		otelprom.WithProducer(prometheusProducer{m}),
		// Prometheus's own naming: underscores, unit suffixes, _total on counters, whatever
		// name validation scheme the process defaults to.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
	)
	if err != nil {
		listener.Close()
		return nil, fmt.Errorf("start the Prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(m.resource))
	mux := http.NewServeMux()
	// OpenMetrics, when the scraper asks for it, also carries the exemplars: the slowest span of
	// each probe, by trace and span id.
	mux.Handle(PrometheusPath, promhttp.HandlerFor(registry, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	return &prometheusMetrics{
		address:  d.PrometheusAddress,
		listener: listener,
		server:   &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		provider: provider,
	}, nil
}

func (p *prometheusMetrics) where() string {
	return "Prometheus at http://" + p.address + PrometheusPath
}

func (p *prometheusMetrics) run(_ context.Context, report func(error)) {
	p.served = make(chan struct{})
	go func() {
		defer close(p.served)
		if err := p.server.Serve(p.listener); !errors.Is(err, http.ErrServerClosed) {
			report(fmt.Errorf("serve metrics for Prometheus: %w", err))
		}
	}()
}

// close stops answering. A scrape still under way when ctx ends is cut short: Prometheus loses
// nothing by it, as the counters are cumulative.
func (p *prometheusMetrics) close(ctx context.Context) error {
	if p.served == nil {
		p.listener.Close()
	} else {
		if p.server.Shutdown(ctx) != nil {
			p.server.Close()
		}
		<-p.served
	}
	// The provider has no instruments and pushes nothing: shutting it down takes no time.
	if err := p.provider.Shutdown(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("shut down the Prometheus exporter: %w", err)
	}
	return nil
}

// prometheusProducer hands the exporter the ledger at each scrape, its latency histograms
// turned into classic buckets (the text format has no exponential histograms).
type prometheusProducer struct{ m *Metrics }

func (p prometheusProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	rm, err := p.m.collect()
	if err != nil {
		return nil, err
	}
	for _, sm := range rm.ScopeMetrics {
		for i, metric := range sm.Metrics {
			if metric.Name == MetricDuration {
				sm.Metrics[i] = classicDurations(metric)
			}
		}
	}
	return rm.ScopeMetrics, nil
}

// classicDurations turns kretspan.call.duration, base-2 exponential histograms at scale 0 in
// nanoseconds as BuildMetrics makes them, into explicit-bucket histograms in seconds, with the
// bounds of ClassicBounds. Exponential bucket i, (2^i, 2^(i+1)] ns, goes into the classic bucket
// whose bound is 2^(i+1) ns, or the first or +Inf one: no count is spread over two buckets.
func classicDurations(metric metricdata.Metrics) metricdata.Metrics {
	exponential := metric.Data.(metricdata.ExponentialHistogram[int64])
	bounds := ClassicBounds()
	classic := metricdata.Histogram[float64]{Temporality: exponential.Temporality}
	for _, dp := range exponential.DataPoints {
		counts := make([]uint64, len(bounds)+1) // the last: +Inf
		for j, n := range dp.PositiveBucket.Counts {
			upper := int(dp.PositiveBucket.Offset) + j + 1 // log2 of the bucket's upper edge
			counts[min(max(upper-classicLowBucketLog2, 0), len(bounds))] += n
		}
		counts[0] += dp.ZeroCount
		point := metricdata.HistogramDataPoint[float64]{
			Attributes: dp.Attributes, StartTime: dp.StartTime, Time: dp.Time,
			Count: dp.Count, Sum: float64(dp.Sum) / 1e9, Bounds: bounds, BucketCounts: counts,
		}
		for _, e := range dp.Exemplars {
			point.Exemplars = append(point.Exemplars, metricdata.Exemplar[float64]{
				FilteredAttributes: e.FilteredAttributes, Time: e.Time, Value: float64(e.Value) / 1e9, SpanID: e.SpanID, TraceID: e.TraceID,
			})
		}
		classic.DataPoints = append(classic.DataPoints, point)
	}
	metric.Unit = "s"
	metric.Data = classic
	return metric
}
