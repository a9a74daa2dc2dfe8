package main

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

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
