package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
)

// The ledger and the in-kernel latency histogram arrive as OTLP metrics that agree with the exit
// summary, and the histogram's exemplar points at an exported span.
func TestKernelMetricsCarryTheLedger(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(d.PID),
		"--metrics-interval", "200ms", "--min-duration", "100ms", "syscall:clock_nanosleep")
	d.Do(t, "sleepers 1 1")   // filtered out by --min-duration (even on a slow emulated kernel), but in the histogram
	d.Do(t, "sleepers 1 150") // exported: the exemplar
	time.Sleep(500 * time.Millisecond)
	k.Stop(t)
	row := summaryRow(t, k.Stderr(), "syscall:clock_nanosleep")

	exports := receiver.Metrics()
	if len(exports) < 2 {
		t.Fatalf("%d metrics exports in about a second at a 200ms interval", len(exports))
	}
	final := exports[len(exports)-1] // the one sent at exit, with the final counts
	outcomes := map[string]int64{}
	var duration *metricspb.ExponentialHistogramDataPoint
	for _, scope := range final.ScopeMetrics {
		for _, m := range scope.Metrics {
			switch m.Name {
			case "kretspan.calls":
				for _, p := range m.GetSum().DataPoints {
					outcomes[stringAttr(p.Attributes, "kretspan.outcome")] = p.GetAsInt()
				}
			case "kretspan.call.duration":
				duration = m.GetExponentialHistogram().DataPoints[0]
			}
		}
	}
	if outcomes["entered"] != int64(row[0]) || outcomes["submitted"] != 1 || outcomes["filtered_duration"] != 1 {
		t.Errorf("kretspan.calls %v; the summary row is %v: want them to agree, 1 submitted and 1 filtered by duration", outcomes, row)
	}
	if duration == nil || duration.Count != 2 || duration.Scale != 0 {
		t.Fatalf("kretspan.call.duration %v: want both calls, at scale 0", duration)
	}
	var bucketed uint64
	for _, n := range duration.Positive.BucketCounts {
		bucketed += n
	}
	if bucketed != 2 || duration.GetSum() < float64(151*time.Millisecond) {
		t.Errorf("histogram buckets hold %d calls, sum %v ns; want 2 calls and at least 151ms", bucketed, duration.GetSum())
	}
	if len(duration.Exemplars) != 1 {
		t.Fatalf("%d exemplars, want the slow exported call", len(duration.Exemplars))
	}
	exemplar := duration.Exemplars[0]
	var found bool
	for _, s := range receiver.Spans() {
		found = found || hex.EncodeToString(s.SpanId) == hex.EncodeToString(exemplar.SpanId) && s.Name == "clock_nanosleep"
	}
	if !found || exemplar.GetAsInt() < int64(150*time.Millisecond) {
		t.Errorf("exemplar %v does not point at the exported 150ms sleep", exemplar)
	}
}

func stringAttr(attrs []*commonpb.KeyValue, key string) string {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// With --metrics-exporter prometheus, /metrics carries the ledger and the latency histogram,
// whatever the span exporter; the exit summary agrees with it.
func TestKernelPrometheusServesTheLedger(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	address := freeLoopbackAddress(t)
	k := startKretspan(t, dir, "--exporter", "none", "--metrics-exporter", "prometheus", "--prometheus-address", address,
		"--pid", fmt.Sprint(d.PID), "syscall:clock_nanosleep")
	if want := "kretspan: metrics go to Prometheus at http://" + address + "/metrics\n"; !strings.Contains(k.Stderr(), want) {
		t.Errorf("kretspan does not say where its metrics are (%q):\n%s", want, k.Stderr())
	}
	d.Do(t, "sleepers 3 20")

	// The spans are counted as exported once their batch has gone: poll until all three are.
	var families map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		families = scrapeMetrics(t, "http://"+address+"/metrics")
		if counterValue(families["kretspan_spans_total"], "exported") == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.Stop(t)
	row := summaryRow(t, k.Stderr(), "syscall:clock_nanosleep")

	if got := counterValue(families["kretspan_calls_total"], "submitted"); got != 3 {
		t.Errorf("kretspan_calls_total{kretspan_outcome=\"submitted\"} = %v, want the driver's 3 sleeps", got)
	}
	if got := counterValue(families["kretspan_spans_total"], "exported"); got != 3 || row[1] != 3 {
		t.Errorf("kretspan_spans_total{kretspan_outcome=\"exported\"} = %v and the summary's %d, want 3", got, row[1])
	}
	// Other processes' sleeps are filtered by --pid but counted as entered, and may go on after
	// the scrape: the summary, later, has at least as many.
	if entered := counterValue(families["kretspan_calls_total"], "entered"); entered < 3 || uint64(entered) > row[0] {
		t.Errorf("kretspan_calls_total{kretspan_outcome=\"entered\"} = %v, want 3 to the summary's %d", entered, row[0])
	}
	durations := families["kretspan_call_duration_seconds"]
	if durations.GetType() != dto.MetricType_HISTOGRAM || len(durations.GetMetric()) != 1 {
		t.Fatalf("kretspan_call_duration_seconds: %v", durations)
	}
	h := durations.GetMetric()[0].GetHistogram()
	// The three 20ms sleeps lie above 2^24 ns (16.8ms): the bucket below holds none of them.
	var below uint64
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == float64(1<<24)/1e9 {
			below = b.GetCumulativeCount()
		}
	}
	if h.GetSampleCount() < 3 || h.GetSampleCount()-below < 3 || h.GetSampleSum() < 0.06 {
		t.Errorf("histogram of %d calls (%d up to 16.8ms), sum %vs; want the three 20ms sleeps in it", h.GetSampleCount(), below, h.GetSampleSum())
	}
}

// A port in use is refused at start, in one line, before anything attaches.
func TestKernelPrometheusAddressInUse(t *testing.T) {
	requireRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, _, stderr := runCLI(t, "--exporter", "none", "--metrics-exporter", "prometheus", "--prometheus-address", l.Addr().String(), "syscall:getppid")
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "kretspan: ") || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit status %d, stderr %q; want 1 and one line that says the address is in use", code, stderr)
	}
}

// Bad Prometheus addresses are bad input: one line, exit status 2, whichever source gave them.
func TestPrometheusAddressBadInput(t *testing.T) {
	checkOneLineUsage(t, []string{"--prometheus-address", "localhost:0", "syscall:read"}, `--prometheus-address "localhost:0": want a port number from 1 to 65535`)
	checkOneLineUsage(t, []string{"--prometheus-address", "9464", "syscall:read"}, "want HOST:PORT")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "65536")
	checkOneLineUsage(t, []string{"--metrics-exporter", "prometheus", "syscall:read"}, `OTEL_EXPORTER_PROMETHEUS_PORT="65536"`)
}

func freeLoopbackAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrapeMetrics reads /metrics in Prometheus's text format.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return families
}

// counterValue is the series of a counter family whose kretspan_outcome is outcome; -1 if none.
func counterValue(family *dto.MetricFamily, outcome string) float64 {
	for _, m := range family.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "kretspan_outcome" && l.GetValue() == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
