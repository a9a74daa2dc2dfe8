package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// The Prometheus tests trace the nested workload (jaeger_test.go) with uprobes on outer and inner:
// only the workload runs that binary, so every count is known exactly. 100 calls make the
// summary's quantiles and PromQL's pick the same call: the summary takes the call of rank
// floor(q*(n-1))+1, histogram_quantile the first bucket whose count reaches q*n, and these are
// the 50th and the 99th call for both.
const (
	prometheusCalls = 100
	prometheusMs    = 1
)

// prometheus is a Prometheus server that scrapes kretspan and takes OTLP metrics.
type prometheus struct {
	url string // http://127.0.0.1:PORT
	log *testprocess.SyncBuffer
}

// startPrometheus runs bin on a free loopback port with a fresh data directory, scraping
// target (host:port) every second as job "kretspan"; t.Cleanup stops it.
func startPrometheus(t *testing.T, bin, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kretspan
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	address := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	p := &prometheus{url: "http://" + address, log: &testprocess.SyncBuffer{}}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+address,
		"--web.enable-otlp-receiver",
		"--enable-feature=exemplar-storage",
	)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("Prometheus's log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("Prometheus exited before it was ready:\n%s", p.log.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus not ready within a minute:\n%s", p.log.String())
		}
	}
}

// sample is one element of an instant vector: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

// query evaluates an instant PromQL query now.
func (p *prometheus) query(t *testing.T, q string) []sample {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	var answer struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Status != "success" || answer.Data.ResultType != "vector" {
		t.Fatalf("query %s: %s %v %s\n%s", q, resp.Status, err, answer.Error, body)
	}
	var out []sample
	for _, r := range answer.Data.Result {
		text, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			t.Fatalf("query %s: value %q: %v", q, text, err)
		}
		out = append(out, sample{r.Metric, v})
	}
	return out
}

// byProbeAndOutcome indexes a counter's samples: probe target → outcome → value.
func byProbeAndOutcome(samples []sample) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, s := range samples {
		target := s.labels["kretspan_probe_target"]
		if out[target] == nil {
			out[target] = map[string]float64{}
		}
		out[target][s.labels["kretspan_outcome"]] = s.value
	}
	return out
}

// traceNested starts the nested workload and kretspan on it, with args, and lets the workload
// make its calls.
func traceNested(t *testing.T, kretspanBin, nestedBin string, env []string, args ...string) (*testprocess.Kretspan, []string) {
	t.Helper()
	w := testprocess.StartWorkload(t, nestedBin, strconv.Itoa(prometheusCalls), strconv.Itoa(prometheusMs))
	probes := []string{"uprobe:" + nestedBin + ":outer", "uprobe:" + nestedBin + ":inner"}
	args = append(args, "--pid", strconv.FormatInt(w.PID, 10))
	k := testprocess.StartKretspan(t, kretspanBin, env, append(args, probes...)...)
	if made := w.Run(t); len(made) != prometheusCalls {
		t.Fatalf("the workload made %d calls, want %d", len(made), prometheusCalls)
	}
	return k, probes
}

// TestKretspanToPrometheus has a real Prometheus scrape kretspan's /metrics (and, in a subtest,
// take kretspan's OTLP metrics), and checks with PromQL that the ledger and the latency
// quantiles agree with kretspan's exit summary and with the workload's number of calls.
func TestKretspanToPrometheus(t *testing.T) {
	requireRoot(t)
	promBin := backendBinary(t, backendPrometheus)
	kretspanBin, nestedBin := build(t)
	metricsAddress := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1)[0])
	p := startPrometheus(t, promBin, metricsAddress)

	t.Run("scrape", func(t *testing.T) {
		k, probes := traceNested(t, kretspanBin, nestedBin, nil,
			"--exporter", "none", "--metrics-exporter", "prometheus", "--prometheus-address", metricsAddress)
		if want := "metrics go to Prometheus at http://" + metricsAddress + "/metrics"; !strings.Contains(k.Stderr(), want) {
			t.Errorf("kretspan's output lacks %q:\n%s", want, k.Stderr())
		}

		// Once a scrape has seen every call handed to user space and every span exported,
		// nothing more changes: the workload has exited. Series go stale once kretspan stops, so
		// everything is read before that.
		selector := `{job="kretspan"}`
		deadline := time.Now().Add(60 * time.Second)
		var calls map[string]map[string]float64
		var spans []sample
		for {
			calls = byProbeAndOutcome(p.query(t, "kretspan_calls_total"+selector))
			spans = p.query(t, `kretspan_spans_total{job="kretspan",kretspan_outcome="exported"}`)
			done := len(spans) == 1 && spans[0].value == 2*prometheusCalls
			for _, probe := range probes {
				done = done && calls[probe]["submitted"] == prometheusCalls
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a minute Prometheus has calls %v, exported spans %v; want %d submitted per probe and %d spans\nkretspan:\n%s",
					calls, spans, prometheusCalls, 2*prometheusCalls, k.Stderr())
			}
			time.Sleep(250 * time.Millisecond)
		}
		counts := byProbe(p.query(t, "kretspan_call_duration_seconds_count"+selector))
		quantiles := map[float64]map[string]float64{}
		for _, q := range []float64{0.5, 0.99} {
			quantiles[q] = byProbe(p.query(t, fmt.Sprintf("histogram_quantile(%v, kretspan_call_duration_seconds_bucket%s)", q, selector)))
		}
		exemplars := p.exemplars(t, "kretspan_call_duration_seconds_bucket"+selector)
		k.Stop(t)
		t.Logf("kretspan:\n%s", k.Stderr())

		s := parseSummary(t, k.Stderr())
		for _, probe := range probes {
			checkLedger(t, probe, calls[probe], s, counts[probe])
			for q, values := range quantiles {
				checkQuantile(t, probe, q, values[probe], s.quantiles[probe][q], 1e9)
			}
		}
		if s.exported != 2*prometheusCalls {
			t.Errorf("the summary says %d spans exported, want %d", s.exported, 2*prometheusCalls)
		}
		// The slowest exported span of each probe reaches Prometheus as an exemplar.
		if len(exemplars) == 0 {
			t.Errorf("no exemplars of kretspan_call_duration_seconds in Prometheus")
		} else {
			t.Logf("%d exemplars, the first %+v", len(exemplars), exemplars[0])
		}
		for _, e := range exemplars {
			if len(e.Labels["trace_id"]) != 32 || len(e.Labels["span_id"]) != 16 || e.Value < prometheusMs*1e-3 {
				t.Errorf("exemplar %+v: want a trace and span id and a call of at least %dms", e, prometheusMs)
			}
		}
	})

	// kretspan pushes OTLP metrics to Prometheus's OTLP receiver: the latency histogram arrives
	// as an exponential (native) histogram, in nanoseconds.
	t.Run("OTLP", func(t *testing.T) {
		service := fmt.Sprintf("kretspan-prometheus-%d-%d", os.Getpid(), time.Now().UnixNano())
		k, probes := traceNested(t, kretspanBin, nestedBin, []string{"OTEL_SERVICE_NAME=" + service},
			"--exporter", "none", "--metrics-exporter", "otlp", "--metrics-interval", "1s",
			"--otlp-protocol", "http/protobuf", "--otlp-endpoint", p.url+"/api/v1/otlp")
		// The final export at exit carries the final counts, and series pushed over OTLP do not go
		// stale: read after kretspan has stopped.
		k.Stop(t)
		t.Logf("kretspan:\n%s", k.Stderr())
		for _, failure := range []string{"export metrics:", "does not accept metrics", "no final metrics export"} {
			if strings.Contains(k.Stderr(), failure) {
				t.Errorf("kretspan reports a failed metrics export (%q):\n%s", failure, k.Stderr())
			}
		}
		s := parseSummary(t, k.Stderr())
		selector := fmt.Sprintf(`{job=%q}`, service)
		var calls map[string]map[string]float64
		deadline := time.Now().Add(60 * time.Second)
		for {
			calls = byProbeAndOutcome(p.query(t, "kretspan_calls_total"+selector))
			done := true
			for _, probe := range probes {
				done = done && calls[probe]["entered"] == prometheusCalls && calls[probe]["submitted"] == prometheusCalls
			}
			if done {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a minute Prometheus has calls %v; want %d entered and submitted per probe", calls, prometheusCalls)
			}
			time.Sleep(250 * time.Millisecond)
		}
		counts := byProbe(p.query(t, "histogram_count(kretspan_call_duration_nanoseconds"+selector+")"))
		for _, probe := range probes {
			checkLedger(t, probe, calls[probe], s, counts[probe])
			for _, q := range []float64{0.5, 0.99} {
				got := byProbe(p.query(t, fmt.Sprintf("histogram_quantile(%v, kretspan_call_duration_nanoseconds%s)", q, selector)))
				checkQuantile(t, probe, q, got[probe], s.quantiles[probe][q], 1)
			}
		}
	})
}

// byProbe indexes samples by probe target.
func byProbe(samples []sample) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		out[s.labels["kretspan_probe_target"]] = s.value
	}
	return out
}

// exitSummary is what the tests read from kretspan's exit summary.
type exitSummary struct {
	rows      map[string]summary.Row
	quantiles map[string]map[float64]time.Duration // probe → 0.5 and 0.99 → P50 and P99
	exported  uint64
}

// parseSummary reads the summary, and each row's P50 and P99: summary.Parse reads the counts,
// and the two durations are the row's last two fields.
func parseSummary(t *testing.T, stderr string) exitSummary {
	t.Helper()
	s, err := summary.Parse(stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	out := exitSummary{rows: map[string]summary.Row{}, quantiles: map[string]map[float64]time.Duration{}, exported: s.UserExported}
	for _, r := range s.Rows {
		out.rows[r.Label] = r
		for _, line := range strings.Split(stderr, "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[0] != r.Label {
				continue
			}
			p50, err50 := time.ParseDuration(fields[len(fields)-2])
			p99, err99 := time.ParseDuration(fields[len(fields)-1])
			if err50 != nil || err99 != nil {
				t.Fatalf("summary row %q: %v %v", line, err50, err99)
			}
			out.quantiles[r.Label] = map[float64]time.Duration{0.5: p50, 0.99: p99}
		}
	}
	return out
}

// checkLedger compares a probe's kretspan_calls_total series with its summary row, column by
// column, as package bpf assigns each outcome to a column. The workload made every call, and
// user space exported every one it was handed, so both are exact.
func checkLedger(t *testing.T, probe string, outcomes map[string]float64, s exitSummary, histogramCount float64) {
	t.Helper()
	row, ok := s.rows[probe]
	if !ok {
		t.Errorf("no summary row for %s", probe)
		return
	}
	columns := map[bpf.Ledger]float64{}
	for _, c := range bpf.Counters() {
		v, ok := outcomes[c.Outcome()]
		if !ok {
			t.Errorf("%s: no kretspan_calls_total series for outcome %s", probe, c.Outcome())
		}
		columns[c.Ledger()] += v
	}
	want := row.Values()
	for i, l := range bpf.Ledgers() {
		if uint64(columns[l]) != want[i] {
			t.Errorf("%s: %s is %v in Prometheus, %d in the summary", probe, l.Column(), columns[l], want[i])
		}
	}
	if columns[bpf.LedgerCalls] != prometheusCalls || columns[bpf.LedgerSubmitted] != prometheusCalls || row.Exported != prometheusCalls || row.InFlight != 0 {
		t.Errorf("%s: Prometheus has %v calls, %v submitted; the summary %d exported, %d in flight; want %d, all exported",
			probe, columns[bpf.LedgerCalls], columns[bpf.LedgerSubmitted], row.Exported, row.InFlight, prometheusCalls)
	}
	if histogramCount != prometheusCalls {
		t.Errorf("%s: the latency histogram counts %v calls, want %d", probe, histogramCount, prometheusCalls)
	}
}

// checkQuantile checks that PromQL's quantile (in units of nsPerUnit nanoseconds) and the summary's lie in
// the same log2 bucket: [2^k, 2^(k+1)] ns, the kernel's buckets and the classic buckets' edges.
// The summary's is the middle of a bucket 1/16 of a power of two wide, inside one log2 bucket,
// rounded to three digits: 0.1% allows for that rounding.
func checkQuantile(t *testing.T, probe string, q, promql float64, fromSummary time.Duration, nsPerUnit float64) {
	t.Helper()
	ns := math.Round(promql * nsPerUnit) // the edges are whole nanoseconds; seconds are not exact
	if !(ns > 0) || fromSummary <= 0 {
		t.Errorf("%s: quantile %v is %vns in Prometheus, %v in the summary", probe, q, ns, fromSummary)
		return
	}
	// The bucket holding PromQL's value: (2^(k), 2^(k+1)], its upper edge the first at or above it.
	upper := math.Exp2(math.Ceil(math.Log2(ns)))
	lower := upper / 2
	got := float64(fromSummary.Nanoseconds())
	t.Logf("%s: quantile %v: PromQL %.0fns, in (%.0f, %.0f]; the summary %v", probe, q, ns, lower, upper, fromSummary)
	if got < lower*0.999 || got > upper*1.001 {
		t.Errorf("%s: quantile %v: the summary's %v lies outside PromQL's bucket (%.0fns, %.0fns] holding %.0fns", probe, q, fromSummary, lower, upper, ns)
	}
}

// exemplar is one of Prometheus's stored exemplars.
type exemplar struct {
	Labels map[string]string
	Value  float64
}

// exemplars returns the exemplars Prometheus holds for a series selector, over the last hour.
func (p *prometheus) exemplars(t *testing.T, selector string) []exemplar {
	t.Helper()
	now := time.Now()
	q := url.Values{"query": {selector}, "start": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)}}
	resp, err := http.Get(p.url + "/api/v1/query_exemplars?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var answer struct {
		Status string `json:"status"`
		Data   []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&answer); err != nil || answer.Status != "success" {
		t.Fatalf("query_exemplars: %s %v\n%s", resp.Status, err, body)
	}
	var out []exemplar
	for _, series := range answer.Data {
		for _, e := range series.Exemplars {
			v, _ := strconv.ParseFloat(e.Value, 64)
			out = append(out, exemplar{e.Labels, v})
		}
	}
	return out
}
