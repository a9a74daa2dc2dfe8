package bench

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/exporter"
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

// BenchmarkEncoder: Pipeline.Add against proto.Marshal of the same 512-span request, in turns;
// each b.N is a round of 64 batches.
func BenchmarkEncoder(b *testing.B) {
	r := MeasureEncoder(max(b.N, 1), 64)
	if r.Err != nil {
		b.Fatal(r.Err)
	}
	b.ReportMetric(r.Add(), "add-ns/span")
	b.ReportMetric(r.Marshal(), "marshal-ns/span")
	b.ReportMetric(r.Add()/r.Marshal(), "add/marshal")
	b.ReportMetric(r.AddProcesses()/r.Add(), "processes/one")
}

// BenchmarkChurn: the process-churn row alone, with make bench's count of processes (each b.N
// is one churn). As root.
func BenchmarkChurn(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the churn row loads BPF programs: run as root")
	}
	cfg := Full()
	cfg.WorkDir, cfg.Log = b.TempDir(), os.Stderr // what the row says of resources that are not its process's
	workload, err := buildPrograms(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c := runChurn(cfg, workload)
		b.Log(churnRow(c))
		if c.Err != nil {
			b.Fatal(c.Err)
		}
		b.ReportMetric(float64(c.FullResource)/float64(c.Spans), "full-resource/span")
		b.ReportMetric(float64(c.Processes.Cached), "cached-at-end")
		b.ReportMetric(float64(c.PeakRSSKB)/1024, "peak-RSS-MiB")
	}
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

	if len(r.E2E) != 2*len(protocols) {
		t.Errorf("end to end: %d runs, want flat out and paced over %d protocols", len(r.E2E), len(protocols))
	}
	for _, e := range r.E2E {
		if e.Err != nil {
			t.Errorf("end to end %s, %s: %v", e.Protocol.Name, e.Name, e.Err)
			continue
		}
		s := e.Summary
		if e.Calls == 0 || e.Delivered == 0 || e.CPU < 0 || e.PeakRSSKB == 0 {
			t.Errorf("end to end %s, %s: calls %d, delivered %d, CPU %v, peak RSS %d kB", e.Protocol.Name, e.Name, e.Calls, e.Delivered, e.CPU, e.PeakRSSKB)
		}
		if e.Delivered != s.UserExported {
			t.Errorf("end to end %s, %s: receiver counted %d spans, kretspan says it exported %d", e.Protocol.Name, e.Name, e.Delivered, s.UserExported)
		}
		if s.Calls < e.Calls {
			t.Errorf("end to end %s, %s: kretspan counted %d calls, the workload made %d", e.Protocol.Name, e.Name, s.Calls, e.Calls)
		}
		if s.Calls != s.Exported+s.Filtered+s.SampledOut+s.Dropped+s.MissedReturns+s.InFlight+s.DroppedQueue+s.ExportFailed {
			t.Errorf("end to end %s, %s: summary does not balance: %+v", e.Protocol.Name, e.Name, s)
		}
	}
	if enc := r.Encoder; enc.Err != nil || len(enc.AddNsPerSpan) != enc.Rounds || enc.Add() <= 0 || enc.Marshal() <= 0 || enc.BytesPerSpan <= 0 {
		t.Errorf("encoder: %+v", enc)
	}
	if ip := r.InProcess; ip.Err != nil || ip.CPUNsPerSpan <= 0 || ip.BytesPerSpan <= 0 {
		t.Errorf("in process: %+v", ip)
	}
	if enc := r.Encoder; len(enc.AddProcessesNsPerSpan) != enc.Rounds || enc.AddProcesses() <= 0 {
		t.Errorf("encoder with a resource per process: %v ns/span", enc.AddProcessesNsPerSpan)
	}
	if c := r.Churn; c.Err != nil || c.Spans != c.Children || c.FullResource != c.Children || c.Processes.Read != uint64(c.Children) || c.Processes.Cached != 0 {
		t.Errorf("process churn: %+v", c)
	}
	if len(r.Overhead) != 2 || len(r.Args) != 2 {
		t.Fatalf("overhead: %d hooks, arguments: %d hooks, want 2 each", len(r.Overhead), len(r.Args))
	}
	for _, o := range slices.Concat(r.Overhead, r.Args) {
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
	}
	for _, o := range r.Overhead {
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
	for _, o := range r.Args {
		if o.Row(VBare) == nil {
			t.Errorf("%s: no row %q", o.Hook, VBare)
		}
		want := uint64(o.Calls + 1000) // the last round's
		for _, v := range []string{VKretspan, VArgs} {
			row := o.Row(v)
			if row == nil || row.Err == nil && row.Summary == nil {
				t.Errorf("%s: %s: no row or no kretspan summary: %+v", o.Hook, v, row)
				continue
			}
			// Other processes call openat too, and theirs may be filtered (kretspan's own) or in
			// flight at the end: only the workload's calls must all be exported or dropped.
			if s := row.Summary; s != nil && (s.Calls < want || s.Exported+s.Dropped < want) {
				t.Errorf("%s: %s counted %+v for %d calls", o.Hook, v, *s, want)
			}
			// The kernel's accounting of the entry and return programs, every round: at least
			// the workload's calls (openat's include other processes'), and some run time.
			if row.Err == nil && (row.BPFErr != nil || len(row.BPF) != o.Reps) {
				t.Errorf("%s: %s: BPF run time of %d rounds, want %d: %v", o.Hook, v, len(row.BPF), o.Reps, row.BPFErr)
			}
			for _, b := range row.BPF {
				if b.Calls < want || b.Returns == 0 || b.EntryNs == 0 || b.ReturnNs == 0 || b.NsPerCall() <= 0 {
					t.Errorf("%s: %s: BPF run time %+v for %d calls", o.Hook, v, b, want)
				}
			}
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The receiver's OTLP/HTTP side counts spans as its gRPC side does, plain or gzipped, answers
// as OTLP/HTTP asks, and refuses what is not protobuf.
func TestReceiverHTTP(t *testing.T) {
	r, err := StartReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	spans := []*tracepb.Span{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	request, err := proto.Marshal(&collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var gzipped bytes.Buffer
	z := gzip.NewWriter(&gzipped)
	z.Write(request)
	z.Close()
	post := func(path, contentType, encoding string, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, r.Endpoint(OTLPProtocol{Flag: exporter.ProtocolHTTP})+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		path, contentType, encoding string
		body                        []byte
		status                      int
	}{
		{"/v1/traces", "application/x-protobuf", "", request, http.StatusOK},
		{"/v1/traces", "application/x-protobuf", "gzip", gzipped.Bytes(), http.StatusOK},
		{"/v1/metrics", "application/x-protobuf", "", nil, http.StatusOK},
		{"/v1/traces", "application/json", "", request, http.StatusUnsupportedMediaType},
		{"/v1/traces", "application/x-protobuf", "", []byte{0x0a, 0x05}, http.StatusBadRequest}, // truncated
	} {
		resp := post(c.path, c.contentType, c.encoding, c.body)
		if resp.StatusCode != c.status {
			t.Errorf("POST %s (%s, %q): %s, want %d", c.path, c.contentType, c.encoding, resp.Status, c.status)
		}
		if c.status == http.StatusOK && resp.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("POST %s: response Content-Type %q", c.path, resp.Header.Get("Content-Type"))
		}
	}
	got := r.Counts()
	if got.Spans != 6 || got.Bytes != 2*uint64(len(request))+2 || got.Requests != 3 || got.MetricRequests != 1 || got.Err == nil {
		t.Errorf("counts %+v: want 6 spans in 2 good requests of %d bytes and a malformed one, 1 metrics request", got, len(request))
	}
}
