package bench

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkInProcess: kretspan's user-space work per span (decode, span building, OTLP encoding).
func BenchmarkInProcess(b *testing.B) {
	r := MeasureInProcess(max(b.N, 1))
	if r.Err != nil {
		b.Fatal(r.Err)
	}
	b.ReportMetric(r.WallNsPerSpan, "ns/span")
	b.ReportMetric(r.CPUNsPerSpan, "cpu-ns/span")
	b.ReportMetric(r.AllocsPerSpan, "allocs/span")
	b.ReportMetric(r.BytesPerSpan, "B/span")
}

// TestQuick runs every benchmark with tiny counts and checks the numbers are sane: it keeps the
// benchmarks working in CI. It asserts nothing about timing.
func TestQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the benchmarks load BPF programs: run as root")
	}
	cfg := Quick()
	cfg.Log = testWriter{t}
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r.Print(&out)
	t.Log("\n" + out.String())

	for _, e := range r.E2E {
		if e.Err != nil {
			t.Errorf("end to end %s: %v", e.Name, e.Err)
			continue
		}
		s := e.Summary
		if e.Calls == 0 || e.Delivered == 0 || e.CPU < 0 || e.PeakRSSKB == 0 {
			t.Errorf("end to end %s: calls %d, delivered %d, CPU %v, peak RSS %d kB", e.Name, e.Calls, e.Delivered, e.CPU, e.PeakRSSKB)
		}
		if e.Delivered != s.UserExported {
			t.Errorf("end to end %s: receiver counted %d spans, kretspan says it exported %d", e.Name, e.Delivered, s.UserExported)
		}
		if s.Calls < e.Calls {
			t.Errorf("end to end %s: kretspan counted %d calls, the workload made %d", e.Name, s.Calls, e.Calls)
		}
		if s.Calls != s.Exported+s.Filtered+s.SampledOut+s.Dropped+s.MissedReturns+s.InFlight+s.DroppedQueue+s.ExportFailed {
			t.Errorf("end to end %s: summary does not balance: %+v", e.Name, s)
		}
	}
	if ip := r.InProcess; ip.Err != nil || ip.CPUNsPerSpan <= 0 || ip.BytesPerSpan <= 0 {
		t.Errorf("in process: %+v", ip)
	}
	if len(r.Overhead) != 2 {
		t.Fatalf("overhead: %d hooks, want 2", len(r.Overhead))
	}
	for _, o := range r.Overhead {
		for _, row := range o.Rows {
			if row.Variant == VBpftrace && row.Err != nil && strings.Contains(row.Err.Error(), "not installed") {
				t.Logf("%s: %s: %v", o.Hook, row.Variant, row.Err)
				continue
			}
			if row.Err != nil {
				t.Errorf("%s: %s: %v", o.Hook, row.Variant, row.Err)
				continue
			}
			if len(row.NsCalls) != o.Reps || row.Median() <= 0 {
				t.Errorf("%s: %s: ns/call %v", o.Hook, row.Variant, row.NsCalls)
			}
		}
		want := uint64(o.Calls + 1000) // the last round's
		if s := o.Row(VKretspan).Summary; s != nil && (s.Calls < want || s.Exported+s.Dropped != s.Calls) {
			t.Errorf("%s: kretspan counted %+v for %d calls", o.Hook, *s, want)
		}
		if s := o.Row(VMinDur).Summary; s != nil && s.Filtered == 0 {
			t.Errorf("%s: --min-duration 1ms filtered nothing: %+v", o.Hook, *s)
		}
		if s := o.Row(VSample).Summary; s != nil && s.SampledOut == 0 {
			t.Errorf("%s: --sample 0.01 sampled nothing out: %+v", o.Hook, *s)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
