package exporter

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	metricscollectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

func TestBuildMetrics(t *testing.T) {
	targets := []probe.Target{{ID: 1, Kind: probe.KindSyscall, Name: "openat"}}
	counters := make([]bpf.ProbeCounts, 2)
	c := &counters[1]
	c.Counts[bpf.CounterEntered], c.Counts[bpf.CounterSubmitted], c.Counts[bpf.CounterFilteredDuration], c.Counts[bpf.CounterSampledOut] = 10, 6, 3, 1
	c.LatencyLog2[10], c.LatencyLog2[12] = 4, 6 // ~1µs and ~4µs
	c.LatencySumNs = 30000
	exemplars := []otelbridge.Exemplar{{}, {DurationNs: 7000, EndUnixNano: 1e18, TraceID: [16]byte{1}, SpanID: [8]byte{2}}}
	start := time.Unix(100, 0)
	stats := otelbridge.Stats{Received: 6, Exported: 5, DroppedQueue: 1, ProcessesRead: 3, ProcessesCached: 2,
		ByService: []otelbridge.ServiceSpans{{Service: "checkout", Exported: 4}, {Service: "cat", Exported: 1, ExportFailed: 2}}}
	rm := BuildMetrics(resource.Empty(), targets, counters, stats, exemplars, start, start.Add(time.Second))

	metrics := map[string]metricdata.Aggregation{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		metrics[m.Name] = m.Data
	}
	calls := metrics[MetricCalls].(metricdata.Sum[int64])
	got := map[string]int64{}
	for _, p := range calls.DataPoints {
		outcome, _ := p.Attributes.Value(AttrOutcome)
		got[outcome.AsString()] = p.Value
		if target, _ := p.Attributes.Value(otelbridge.AttrProbeTarget); target.AsString() != "syscall:openat" {
			t.Errorf("point for %q", target.AsString())
		}
	}
	if got["entered"] != 10 || got["submitted"] != 6 || got["filtered_duration"] != 3 || got["sampled_out"] != 1 || len(got) != 12 {
		t.Errorf("kretspan.calls %v", got)
	}
	if !calls.IsMonotonic || calls.Temporality != metricdata.CumulativeTemporality {
		t.Errorf("kretspan.calls is not a cumulative counter")
	}
	if inFlight := metrics[MetricInFlight].(metricdata.Gauge[int64]).DataPoints[0].Value; inFlight != 0 {
		t.Errorf("in flight %d, want 0 (10 = 6 + 3 + 1)", inFlight)
	}
	point := metrics[MetricDuration].(metricdata.ExponentialHistogram[int64]).DataPoints[0]
	if point.Count != 10 || point.Sum != 30000 || point.Scale != 0 || point.PositiveBucket.Offset != 10 ||
		len(point.PositiveBucket.Counts) != 3 || point.PositiveBucket.Counts[0] != 4 || point.PositiveBucket.Counts[2] != 6 {
		t.Errorf("duration point %+v", point)
	}
	if len(point.Exemplars) != 1 || point.Exemplars[0].Value != 7000 || point.Exemplars[0].SpanID[0] != 2 {
		t.Errorf("exemplars %+v", point.Exemplars)
	}
	spans := map[string]int64{}
	for _, p := range metrics[MetricSpans].(metricdata.Sum[int64]).DataPoints {
		outcome, _ := p.Attributes.Value(AttrOutcome)
		spans[outcome.AsString()] = p.Value
	}
	if spans["received"] != 6 || spans["exported"] != 5 || spans["dropped_queue_full"] != 1 {
		t.Errorf("kretspan.spans %v", spans)
	}
	byService := map[string]int64{}
	for _, p := range metrics[MetricServiceSpans].(metricdata.Sum[int64]).DataPoints {
		service, _ := p.Attributes.Value("service.name")
		outcome, _ := p.Attributes.Value(AttrOutcome)
		byService[service.AsString()+" "+outcome.AsString()] = p.Value
	}
	if want := map[string]int64{"checkout exported": 4, "checkout export_failed": 0, "cat exported": 1, "cat export_failed": 2}; !maps.Equal(byService, want) {
		t.Errorf("kretspan.service.spans %v, want %v", byService, want)
	}
	processes := map[string]int64{}
	for _, p := range metrics[MetricProcesses].(metricdata.Gauge[int64]).DataPoints {
		state, _ := p.Attributes.Value(AttrProcessState)
		processes[state.AsString()] = p.Value
	}
	if processes["read"] != 3 || processes["cached"] != 2 || len(processes) != 2 {
		t.Errorf("kretspan.processes %v", processes)
	}
}

// An endpoint without the metrics service (Jaeger) answers Unimplemented: Run reports it once and
// stops; Close sends no final export and reports nothing.
func TestMetricsStopWhenRefused(t *testing.T) {
	m, endpoint := metricsToTracesOnlyReceiver(t)
	var notes []error
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	m.Run(ctx, testSource(t), func(err error) { notes = append(notes, err) })
	var refused *RefusedError
	if len(notes) != 1 || !errors.As(notes[0], &refused) || refused.Endpoint != endpoint {
		t.Fatalf("Run's notes %v, want one *RefusedError naming %s", notes, endpoint)
	}
	if time.Since(start) > 900*time.Millisecond {
		t.Errorf("Run went on for %v after the refusal", time.Since(start))
	}
	if !strings.Contains(refused.Error(), "Unimplemented") {
		t.Errorf("note %q does not name the gRPC code", refused)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Errorf("Close after a refusal: %v", err)
	}
}

// A refusal first met in the final export is a *RefusedError too, not a failed export.
func TestMetricsFinalExportRefused(t *testing.T) {
	m, _ := metricsToTracesOnlyReceiver(t)
	m.Run(canceled(), testSource(t), func(err error) { t.Errorf("Run reported %v", err) })
	var refused *RefusedError
	if err := m.Close(context.Background()); !errors.As(err, &refused) {
		t.Errorf("Close = %v, want a *RefusedError", err)
	}
}

// Over http/protobuf the metrics reach the signal's URL as an OTLP request; a server without that
// path (Jaeger answers 404) refuses metrics the way a gRPC one answers Unimplemented.
func TestMetricsOverHTTP(t *testing.T) {
	clearOTELEnv(t)
	var requests atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/metrics" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var request metricscollectorpb.ExportMetricsServiceRequest
		if err != nil || proto.Unmarshal(body, &request) != nil || len(request.ResourceMetrics) != 1 {
			t.Errorf("request to %s: %v, %d resource metrics", r.URL.Path, err, len(request.ResourceMetrics))
		}
		requests.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer server.Close()

	m := newTestMetrics(t, server.URL+"/v1/metrics", ProtocolHTTP)
	m.Run(canceled(), testSource(t), func(err error) { t.Errorf("Run reported %v", err) })
	if err := m.Close(context.Background()); err != nil || requests.Load() != 1 {
		t.Errorf("final export over HTTP: %v, %d requests", err, requests.Load())
	}
	var refused *RefusedError
	m = newTestMetrics(t, server.URL+"/elsewhere", ProtocolHTTP)
	m.Run(canceled(), testSource(t), func(err error) { t.Errorf("Run reported %v", err) })
	err := m.Close(context.Background())
	if !errors.As(err, &refused) || refused.Answer != "404 Not Found" {
		t.Errorf("export to a path the server lacks = %v, want a *RefusedError for 404 Not Found", err)
	}
}

// metricsToTracesOnlyReceiver is a metrics exporter whose endpoint, like Jaeger, has no metrics
// service.
func metricsToTracesOnlyReceiver(t *testing.T) (*Metrics, string) {
	t.Helper()
	clearOTELEnv(t)
	receiver, err := otlpreceiver.Start(otlpreceiver.WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(receiver.Stop)
	return newTestMetrics(t, receiver.Endpoint(), ProtocolGRPC), receiver.Endpoint()
}

func newTestMetrics(t *testing.T, endpoint, protocol string) *Metrics {
	t.Helper()
	targets := []probe.Target{{ID: 1, Kind: probe.KindSyscall, Name: "openat"}}
	m, err := NewMetrics(context.Background(), MetricsOTLP, MetricsDestination{Endpoint: endpoint, Protocol: protocol, Interval: 50 * time.Millisecond}, resource.Empty(), targets)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testSource is a ledger of zeros for the probe ids 0 to 2.
func testSource(t *testing.T) LedgerSource {
	t.Helper()
	p := newTestPipeline(t, NewConsole(io.Discard))
	t.Cleanup(func() { closePipeline(t, p) })
	return LedgerSource{Counts: func() ([]bpf.ProbeCounts, error) { return make([]bpf.ProbeCounts, 3), nil }, Pipeline: p}
}

// canceled is a context already ended: Run of a pushing exporter then returns at once.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Every name the help offers starts a metrics exporter or, for none and a zero OTLP interval,
// deliberately none; only those names do.
func TestMetricsExporters(t *testing.T) {
	clearOTELEnv(t)
	for _, name := range MetricsExporterNames() {
		d := MetricsDestination{Endpoint: "http://127.0.0.1:1", Interval: time.Second, PrometheusAddress: "127.0.0.1:0"}
		m, err := NewMetrics(context.Background(), name, d, resource.Empty(), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if (m == nil) != (name == MetricsNone) {
			t.Errorf("%s: metrics %v", name, m)
		}
		if m != nil {
			if err := m.Close(context.Background()); err != nil {
				t.Errorf("%s: close before running: %v", name, err)
			}
		}
	}
	if m, err := NewMetrics(context.Background(), MetricsOTLP, MetricsDestination{Endpoint: "http://127.0.0.1:1"}, nil, nil); m != nil || err != nil {
		t.Errorf("OTLP metrics with a zero interval: %v, %v; want none", m, err)
	}
	if _, err := NewMetrics(context.Background(), "statsd", MetricsDestination{}, nil, nil); err == nil {
		t.Error("an unknown metrics exporter was started")
	}
}

// A --sched probe's time per state is a counter; a probe without the split has none.
func TestBuildMetricsSchedTime(t *testing.T) {
	targets := []probe.Target{{ID: 1, Kind: probe.KindSyscall, Name: "read"}, {ID: 2, Kind: probe.KindSyscall, Name: "write"}}
	counters := make([]bpf.ProbeCounts, 3)
	counters[1].OnCpuSumNs, counters[1].RunqueueSumNs, counters[1].BlockedSumNs = 200, 100, 11800
	rm := BuildMetrics(resource.Empty(), targets, counters, otelbridge.Stats{}, nil, time.Unix(100, 0), time.Unix(101, 0))
	got := map[string]int64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name != MetricSchedTime {
			continue
		}
		for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
			target, _ := p.Attributes.Value(otelbridge.AttrProbeTarget)
			state, _ := p.Attributes.Value(AttrSchedState)
			got[target.AsString()+" "+state.AsString()] = p.Value
		}
	}
	want := map[string]int64{"syscall:read on_cpu": 200, "syscall:read runqueue": 100, "syscall:read blocked": 11800}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s points %v, want %v", MetricSchedTime, got, want)
	}
}
