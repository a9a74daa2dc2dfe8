package exporter

import (
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// startPrometheus serves a fed-in ledger for Prometheus on a free loopback port; it returns the
// /metrics URL.
func startPrometheus(t *testing.T, counters []bpf.ProbeCounts, targets []probe.Target) (*Metrics, string) {
	t.Helper()
	address := freeAddress(t)
	res := resource.NewSchemaless(attribute.String("service.name", "prometheus-test"))
	m, err := NewMetrics(context.Background(), MetricsPrometheus, MetricsDestination{PrometheusAddress: address}, res, targets)
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPipeline(t, NewConsole(io.Discard))
	t.Cleanup(func() { closePipeline(t, p) })
	m.Run(context.Background(), LedgerSource{Counts: func() ([]bpf.ProbeCounts, error) { return counters, nil }, Pipeline: p},
		func(err error) { t.Errorf("Run reported %v", err) })
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if want := "Prometheus at http://" + address + "/metrics"; m.Where() != want {
		t.Errorf("Where() = %q, want %q", m.Where(), want)
	}
	return m, "http://" + address + PrometheusPath
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape reads /metrics in the text format, as Prometheus asks for it without native histograms.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The /metrics body carries the fed-in ledger under Prometheus's names, and the latency histogram
// in classic buckets on the kernel's log2 edges.
func TestPrometheusServesTheLedger(t *testing.T) {
	targets := []probe.Target{{ID: 1, Kind: probe.KindSyscall, Name: "openat"}}
	counters := make([]bpf.ProbeCounts, 2)
	c := &counters[1]
	c.Counts[bpf.CounterEntered], c.Counts[bpf.CounterSubmitted], c.Counts[bpf.CounterFilteredDuration], c.Counts[bpf.CounterSampledOut] = 12, 6, 3, 1
	c.LatencyLog2[0], c.LatencyLog2[10], c.LatencyLog2[12], c.LatencyLog2[40] = 1, 4, 6, 1 // 0 ns, ~1µs, ~4µs, ~18 min
	c.LatencySumNs = 1<<40 + 30000
	_, url := startPrometheus(t, counters, targets)
	families := scrape(t, url)

	var names []string
	for name := range families {
		names = append(names, name)
	}
	for _, want := range []string{"kretspan_calls_total", "kretspan_calls_in_flight", "kretspan_spans_total", "kretspan_call_duration_seconds", "target_info"} {
		if families[want] == nil {
			t.Errorf("no %s in /metrics; it has %v", want, names)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	calls := map[string]float64{}
	for _, m := range families["kretspan_calls_total"].GetMetric() {
		if label(m, "kretspan_probe_target") != "syscall:openat" || label(m, "kretspan_probe_kind") != "syscall" {
			t.Errorf("kretspan_calls_total series with labels %v", m.GetLabel())
		}
		calls[label(m, "kretspan_outcome")] = m.GetCounter().GetValue()
	}
	if families["kretspan_calls_total"].GetType() != dto.MetricType_COUNTER || len(calls) != len(bpf.Counters()) ||
		calls["entered"] != 12 || calls["submitted"] != 6 || calls["filtered_duration"] != 3 || calls["sampled_out"] != 1 || calls["dropped_depth"] != 0 {
		t.Errorf("kretspan_calls_total %v (type %v)", calls, families["kretspan_calls_total"].GetType())
	}
	if inFlight := families["kretspan_calls_in_flight"].GetMetric()[0].GetGauge().GetValue(); inFlight != 2 {
		t.Errorf("kretspan_calls_in_flight %v, want 2 (12 entered, 10 accounted for)", inFlight)
	}
	spans := map[string]float64{}
	for _, m := range families["kretspan_spans_total"].GetMetric() {
		spans[label(m, "kretspan_outcome")] = m.GetCounter().GetValue()
	}
	if len(spans) != 4 || spans["received"] != 0 {
		t.Errorf("kretspan_spans_total %v", spans)
	}

	durations := families["kretspan_call_duration_seconds"]
	if durations.GetType() != dto.MetricType_HISTOGRAM || len(durations.GetMetric()) != 1 {
		t.Fatalf("kretspan_call_duration_seconds: %v", durations)
	}
	h := durations.GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 12 || h.GetSampleSum() != (1<<40+30000)/1e9 {
		t.Errorf("count %d, sum %v; want 12 and %v", h.GetSampleCount(), h.GetSampleSum(), (1<<40+30000)/1e9)
	}
	// Cumulative counts: 0 ns in the first bucket; [2^10, 2^11) ns up to 2^11 ns; [2^12, 2^13) up
	// to 2^13 ns; 2^40 ns beyond the last bound, so only in +Inf (the sample count).
	bounds := ClassicBounds()
	buckets := h.GetBucket()
	if len(buckets) != len(bounds)+1 || !math.IsInf(buckets[len(bounds)].GetUpperBound(), 1) || buckets[len(bounds)].GetCumulativeCount() != 12 {
		t.Fatalf("buckets %v, want %d and +Inf holding all 12", buckets, len(bounds))
	}
	for i, b := range buckets[:len(bounds)] {
		upper := uint64(1) << (classicLowBucketLog2 + i) // ns
		want := uint64(0)
		switch {
		case upper >= 1<<13:
			want = 11
		case upper >= 1<<11:
			want = 5
		default:
			want = 1
		}
		if b.GetUpperBound() != float64(upper)/1e9 || b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want le=%v holding %d", b.GetUpperBound(), b.GetCumulativeCount(), float64(upper)/1e9, want)
		}
	}
	if first, last := bounds[0], bounds[len(bounds)-1]; first != 64e-9 || last != float64(uint64(1)<<36)/1e9 {
		t.Errorf("bounds from %v to %v s, want 64ns to 2^36 ns", first, last)
	}
	var service string
	for _, m := range families["target_info"].GetMetric() {
		service = label(m, "service_name")
	}
	if service != "prometheus-test" {
		t.Errorf("target_info's service_name %q, want the resource's", service)
	}
}

// The exporter's exemplar, the slowest exported span, is kept in seconds with its ids.
func TestClassicDurationsExemplar(t *testing.T) {
	targets := []probe.Target{{ID: 1, Kind: probe.KindSyscall, Name: "openat"}}
	counters := make([]bpf.ProbeCounts, 2)
	counters[1].LatencyLog2[12] = 1
	exemplars := []otelbridge.Exemplar{{}, {DurationNs: 7000, EndUnixNano: 1e18, TraceID: [16]byte{1}, SpanID: [8]byte{2}}}
	rm := BuildMetrics(resource.Empty(), targets, counters, otelbridge.Stats{}, exemplars, time.Unix(100, 0), time.Unix(101, 0))
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != MetricDuration {
			continue
		}
		classic := classicDurations(m)
		points := classic.Data.(metricdata.Histogram[float64]).DataPoints
		if classic.Unit != "s" || len(points) != 1 || len(points[0].Exemplars) != 1 {
			t.Fatalf("classic histogram %+v", classic)
		}
		e := points[0].Exemplars[0]
		if e.Value != 7e-6 || e.SpanID[0] != 2 || e.TraceID[0] != 1 || !e.Time.Equal(time.Unix(0, 1e18)) {
			t.Errorf("exemplar %+v, want the 7µs span in seconds", e)
		}
		return
	}
	t.Fatal("no duration metric")
}

// A port in use is an error from NewMetrics, before anything could attach; after Close, the port
// is free again.
func TestPrometheusAddressInUse(t *testing.T) {
	address := freeAddress(t)
	d := MetricsDestination{PrometheusAddress: address}
	m, err := NewMetrics(context.Background(), MetricsPrometheus, d, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Run(context.Background(), testSource(t), func(err error) { t.Errorf("Run reported %v", err) })
	url := "http://" + address + PrometheusPath
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v", url, err)
	} else {
		resp.Body.Close()
	}
	_, err = NewMetrics(context.Background(), MetricsPrometheus, d, nil, nil)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), address) {
		t.Errorf("a second exporter on %s: %v, want address in use", address, err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after Close", url)
	}
	again, err := NewMetrics(context.Background(), MetricsPrometheus, d, nil, nil)
	if err != nil {
		t.Fatalf("the address after Close: %v", err)
	}
	if err := again.Close(context.Background()); err != nil {
		t.Error(err)
	}
}
