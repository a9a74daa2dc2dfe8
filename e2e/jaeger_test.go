// Package e2e holds kretspan's end-to-end tests: the real kretspan binary traces a real workload
// on this kernel and exports to a real Jaeger (tools/jaeger), whose query API and web UI are
// checked. They need root (BPF) and a built Jaeger; without either they skip and say why.
// `make e2e-test` builds Jaeger first and runs them.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/testprocess"
)

// The workload, cmd/kretspan/testdata/nested.c: outer(ms) calls inner(ms), which sleeps ms with
// nanosleep (the clock_nanosleep syscall) and returns 2*ms; outer then sleeps ms again and returns
// 2*ms+1. So each call makes four spans in one trace:
//
//	outer                        ~2ms
//	├── inner                    ~ms
//	│   └── clock_nanosleep      ~ms
//	└── clock_nanosleep          ~ms
//
// kretspan keeps one call stack per thread for all its probes, so a syscall made inside a probed
// user function becomes that function's child.
const (
	workloadCalls = 3
	workloadMs    = 20
	workloadSpans = 4 * workloadCalls
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs (run as root: sudo make e2e-test, or .ci/run)")
	}
}

// jaegerBinary is the Jaeger that tools/jaeger/build.sh builds.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	return backendBinary(t, backendJaeger)
}

// freePorts asks the kernel for n distinct free loopback ports. Another process could take one
// before Jaeger binds it; start.sh then refuses to start and says which port.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// jaeger is a Jaeger all-in-one started by tools/jaeger/start.sh.
type jaeger struct {
	queryURL     string // http://127.0.0.1:PORT
	otlpEndpoint string // http://127.0.0.1:PORT (OTLP gRPC)
	log          string
	dir          string // its run directory, for tools/jaeger/stop.sh
}

// stop stops Jaeger; it is safe to call again.
func (j *jaeger) stop(t *testing.T) {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot(t), "tools/jaeger/stop.sh"), j.dir).CombinedOutput()
	if err != nil {
		t.Errorf("stopping Jaeger: %v\n%s", err, out)
	}
}

// uiAssets is the web UI Jaeger serves: $KRETSPAN_JAEGER_UI_ASSETS (a built jaeger-ui, the
// contents of its release's assets.tar.gz) or else ../tools/jaeger/viewer, a minimal viewer of the same
// query API. Jaeger built from the Go module proxy has no UI of its own: only a placeholder page.
func uiAssets(t *testing.T) (dir string, realUI bool) {
	t.Helper()
	if dir := os.Getenv("KRETSPAN_JAEGER_UI_ASSETS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
			t.Fatalf("KRETSPAN_JAEGER_UI_ASSETS: %v", err)
		}
		return dir, true
	}
	dir, err := filepath.Abs("../tools/jaeger/viewer")
	if err != nil {
		t.Fatal(err)
	}
	return dir, false
}

// jaegerConfig writes tools/jaeger/config.yaml with the UI served from assets.
func jaegerConfig(t *testing.T, dir, assets string) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(repoRoot(t), "tools/jaeger/config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "\n  jaeger_query:\n"
	if !bytes.Contains(base, []byte(anchor)) {
		t.Fatalf("tools/jaeger/config.yaml has no %q section to add the UI assets to", strings.TrimSpace(anchor))
	}
	config := strings.Replace(string(base), anchor, anchor+"    ui:\n      assets_path: "+strconv.Quote(assets)+"\n", 1)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startJaeger starts Jaeger on free ports in a temporary directory, its UI served from assets;
// t.Cleanup stops it.
func startJaeger(t *testing.T, bin, assets string) *jaeger {
	t.Helper()
	return startJaegerAt(t, bin, assets, freePorts(t, 4))
}

// startJaegerAt starts Jaeger on the given ports: OTLP gRPC, OTLP HTTP, query HTTP, query gRPC.
func startJaegerAt(t *testing.T, bin, assets string, ports []int) *jaeger {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	j := &jaeger{dir: dir}
	cmd := exec.Command(filepath.Join(root, "tools/jaeger/start.sh"), dir)
	cmd.Env = append(os.Environ(),
		"JAEGER_BIN="+bin,
		"JAEGER_CONFIG="+jaegerConfig(t, dir, assets),
		"JAEGER_OTLP_GRPC_PORT="+strconv.Itoa(ports[0]),
		"JAEGER_OTLP_HTTP_PORT="+strconv.Itoa(ports[1]),
		"JAEGER_QUERY_HTTP_PORT="+strconv.Itoa(ports[2]),
		"JAEGER_QUERY_GRPC_PORT="+strconv.Itoa(ports[3]),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Registered before starting, so that a half-started Jaeger is stopped too (stop.sh does
	// nothing without a pid file).
	t.Cleanup(func() { j.stop(t) })
	if err := cmd.Run(); err != nil {
		t.Fatalf("tools/jaeger/start.sh: %v\n%s", err, stderr.String())
	}
	env, err := os.ReadFile(filepath.Join(dir, "jaeger.env"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	j.queryURL, j.otlpEndpoint, j.log = vars["JAEGER_QUERY_URL"], "http://"+vars["JAEGER_OTLP_GRPC_ENDPOINT"], vars["JAEGER_LOG"]
	if vars["JAEGER_QUERY_URL"] == "" || vars["JAEGER_OTLP_GRPC_ENDPOINT"] == "" {
		t.Fatalf("jaeger.env lacks the endpoints:\n%s", env)
	}
	return j
}

// The /api/traces JSON (tools/jaeger/README.md). Times and durations are microseconds, truncated.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	Warnings  []string                 `json:"warnings"`
}

type jaegerSpan struct {
	TraceID       string      `json:"traceID"`
	SpanID        string      `json:"spanID"`
	OperationName string      `json:"operationName"`
	References    []jaegerRef `json:"references"`
	StartTime     int64       `json:"startTime"`
	Duration      int64       `json:"duration"`
	Tags          []jaegerTag `json:"tags"`
	Logs          []jaegerLog `json:"logs"` // span events
	ProcessID     string      `json:"processID"`
	Warnings      []string    `json:"warnings"`
}

func (s jaegerSpan) end() int64 { return s.StartTime + s.Duration }

type jaegerRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerTag struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// jaegerLog is a span event: its name is the field "event".
type jaegerLog struct {
	Timestamp int64       `json:"timestamp"`
	Fields    []jaegerTag `json:"fields"`
}

type jaegerProcess struct {
	ServiceName string      `json:"serviceName"`
	Tags        []jaegerTag `json:"tags"`
}

// tag returns the value of the tag named key, as text.
func tag(tags []jaegerTag, key string) (string, bool) {
	for _, tg := range tags {
		if tg.Key == key {
			return tg.text(), true
		}
	}
	return "", false
}

// tagMap returns each tag's value as text by its key; a repeated key keeps its first value, as
// tag does.
func tagMap(tags []jaegerTag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		if _, ok := m[tg.Key]; !ok {
			m[tg.Key] = tg.text()
		}
	}
	return m
}

// text is the tag's value as text: strings unquoted, numbers and bools as JSON has them.
func (tg jaegerTag) text() string {
	var s string
	if json.Unmarshal(tg.Value, &s) == nil {
		return s
	}
	return string(tg.Value)
}

// traces returns the traces Jaeger holds for service.
func (j *jaeger) traces(service string) ([]jaegerTrace, error) {
	q := url.Values{"service": {service}, "limit": {"1000"}, "lookback": {"1h"}}
	resp, err := http.Get(j.queryURL + "/api/traces?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var envelope struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return nil, fmt.Errorf("decode /api/traces: %w\n%s", err, body)
	}
	return envelope.Data, nil
}

// waitForSpans polls Jaeger until it holds at least want spans of service, or the timeout passes.
func (j *jaeger) waitForSpans(t *testing.T, service string, want int, timeout time.Duration) []jaegerTrace {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		traces, err := j.traces(service)
		if err != nil {
			t.Fatalf("query Jaeger: %v", err)
		}
		n := 0
		for _, tr := range traces {
			n += len(tr.Spans)
		}
		if n >= want || time.Now().After(deadline) {
			return traces
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForWorkloadTraces waits for the nested workload's spans of service in Jaeger, then a moment
// more (settle), so that spans beyond the expected ones (a duplicate from a retried export)
// would show up too; it fails t unless Jaeger holds exactly one 4-span trace per outer call.
// detail goes into the failure message.
func (j *jaeger) waitForWorkloadTraces(t *testing.T, service string, timeout, settle time.Duration, detail string) []jaegerTrace {
	t.Helper()
	traces := j.waitForSpans(t, service, workloadSpans, timeout)
	time.Sleep(settle)
	if again, err := j.traces(service); err == nil {
		traces = again
	}
	n := 0
	for _, tr := range traces {
		n += len(tr.Spans)
	}
	t.Logf("Jaeger holds %d spans in %d traces for service %s", n, len(traces), service)
	if n != workloadSpans || len(traces) != workloadCalls {
		t.Fatalf("Jaeger holds %d spans in %d traces, want %d in %d (one trace per outer call)%s", n, len(traces), workloadSpans, workloadCalls, detail)
	}
	return traces
}

// TestMain removes the programs the tests built (testprocess.Built) when they end.
func TestMain(m *testing.M) { testprocess.Main(m) }

// build returns kretspan and the nested workload, with the driver workload beside them, built
// once for all the tests.
func build(t *testing.T) (kretspan, nested string) {
	t.Helper()
	dir := testprocess.Built(t, "kretspan", "nested", "driver")
	return filepath.Join(dir, "kretspan"), filepath.Join(dir, "nested")
}

// TestKretspanToJaeger traces the nested workload with uprobes on outer and inner plus the
// clock_nanosleep syscall, exports to a real Jaeger, and checks what Jaeger's query API returns
// against the workload's own clock. The subtest "browser" (browser_test.go) then opens one of the
// traces in Jaeger's web UI with headless Chromium.
func TestKretspanToJaeger(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	kretspanBin, nestedBin := build(t)
	assets, realUI := uiAssets(t)
	j := startJaeger(t, jaegerBin, assets)

	service := fmt.Sprintf("kretspan-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	w := testprocess.StartWorkload(t, nestedBin, strconv.Itoa(workloadCalls), strconv.Itoa(workloadMs))
	k := testprocess.StartKretspan(t, kretspanBin,
		[]string{"OTEL_SERVICE_NAME=" + service, "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=e2e"},
		"--otlp-endpoint", j.otlpEndpoint, "--pid", strconv.FormatInt(w.PID, 10), "--batch-timeout", "50ms",
		"uprobe:"+nestedBin+":outer", "uprobe:"+nestedBin+":inner", "syscall:clock_nanosleep")
	made := w.Run(t)
	if len(made) != workloadCalls {
		t.Fatalf("the workload made %d calls, want %d", len(made), workloadCalls)
	}
	k.Stop(t)
	t.Logf("kretspan:\n%s", k.Stderr())

	traces := j.waitForWorkloadTraces(t, service, 20*time.Second, 500*time.Millisecond, "\nkretspan:\n"+k.Stderr())
	checkTraces(t, traces, made, w, service, nestedBin)

	t.Run("browser", func(t *testing.T) {
		// The trace of the first call, with its four spans, in Jaeger's UI.
		first := traces[0]
		for _, tr := range traces {
			if root := rootSpan(tr); root != nil && root.StartTime < rootSpan(first).StartTime {
				first = tr
			}
		}
		checkTraceInUI(t, j, first, realUI)
	})
}

func rootSpan(tr jaegerTrace) *jaegerSpan {
	for i, s := range tr.Spans {
		if len(s.References) == 0 {
			return &tr.Spans[i]
		}
	}
	return nil
}

func checkTraces(t *testing.T, traces []jaegerTrace, made []testprocess.Call, w *testprocess.Workload, service, nestedBin string) {
	const us = int64(time.Microsecond)
	step := int64(workloadMs) * int64(time.Millisecond) / us // µs
	// Scheduling on a loaded 2-core VM can delay wake-ups; the ground truth below (the workload's
	// own clock) is tighter.
	slack := int64(20 * time.Millisecond / time.Microsecond)
	hostname, _ := os.Hostname()
	release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	wantProcess := map[string]string{
		"host.name":              hostname,
		"os.type":                "linux",
		"os.version":             strings.TrimSpace(string(release)),
		"deployment.environment": "e2e",
	}
	matched := map[int]bool{}

	for _, tr := range traces {
		if len(tr.Warnings) != 0 {
			t.Errorf("trace %s: Jaeger warns %q", tr.TraceID, tr.Warnings)
		}
		for id, p := range tr.Processes {
			if p.ServiceName != service {
				t.Errorf("trace %s process %s: service %q, want %q", tr.TraceID, id, p.ServiceName, service)
			}
			for k, want := range wantProcess {
				if got, ok := tag(p.Tags, k); !ok || got != want {
					t.Errorf("trace %s process %s: %s = %q (present %v), want %q", tr.TraceID, id, k, got, ok, want)
				}
			}
		}
		byID := map[string]jaegerSpan{}
		count := map[string]int{}
		var summary []string
		for _, s := range tr.Spans {
			byID[s.SpanID] = s
			count[s.OperationName]++
			summary = append(summary, fmt.Sprintf("%s %dµs", s.OperationName, s.Duration))
		}
		t.Logf("trace %s: %s", tr.TraceID, strings.Join(summary, ", "))
		if count["outer"] != 1 || count["inner"] != 1 || count["clock_nanosleep"] != 2 || len(tr.Spans) != 4 {
			t.Errorf("trace %s has spans %v, want outer, inner and 2 clock_nanosleep", tr.TraceID, count)
			continue
		}
		parentOf := func(s jaegerSpan) (jaegerSpan, bool) {
			if len(s.References) != 1 || s.References[0].RefType != "CHILD_OF" || s.References[0].TraceID != tr.TraceID {
				return jaegerSpan{}, false
			}
			p, ok := byID[s.References[0].SpanID]
			return p, ok
		}
		var outer jaegerSpan
		for _, s := range tr.Spans {
			if s.OperationName == "outer" {
				outer = s
			}
		}
		childrenOf := map[string][]string{} // parent name → child names

		for _, s := range tr.Spans {
			name := s.OperationName
			if s.TraceID != tr.TraceID || len(s.SpanID) != 16 {
				t.Errorf("%s: span %s of trace %s in trace %s", name, s.SpanID, s.TraceID, tr.TraceID)
			}
			if len(s.Warnings) != 0 {
				t.Errorf("%s: Jaeger warns %q", name, s.Warnings)
			}
			wantTags := map[string]string{
				"process.pid":           strconv.FormatInt(w.PID, 10),
				"thread.id":             strconv.FormatInt(w.TID, 10),
				"thread.name":           "nested",
				"kretspan.probe.kind":   "uprobe",
				"kretspan.probe.target": "uprobe:" + nestedBin + ":" + name,
			}
			switch name {
			case "outer":
				wantTags["kretspan.return_value"] = strconv.Itoa(2*workloadMs + 1)
			case "inner":
				wantTags["kretspan.return_value"] = strconv.Itoa(2 * workloadMs)
			case "clock_nanosleep":
				wantTags["kretspan.return_value"] = "0"
				wantTags["kretspan.probe.kind"] = "syscall"
				wantTags["kretspan.probe.target"] = "syscall:clock_nanosleep"
			}
			for k, want := range wantTags {
				if got, ok := tag(s.Tags, k); !ok || got != want {
					t.Errorf("%s: tag %s = %q (present %v), want %q", name, k, got, ok, want)
				}
			}
			if v, ok := tag(s.Tags, "error"); ok {
				t.Errorf("%s: error tag %s on a successful call", name, v)
			}

			// Durations against the workload's ground truth (µs, truncated by Jaeger).
			want := step
			if name == "outer" {
				want = 2 * step
			}
			if s.Duration < want || s.Duration > want+slack {
				t.Errorf("%s took %dµs, want %dµs to %dµs", name, s.Duration, want, want+slack)
			}

			if name == "outer" {
				if len(s.References) != 0 {
					t.Errorf("outer has references %+v, want none (a root span)", s.References)
				}
				continue
			}
			parent, ok := parentOf(s)
			if !ok {
				t.Errorf("%s: references %+v, want one CHILD_OF a span of trace %s", name, s.References, tr.TraceID)
				continue
			}
			childrenOf[parent.OperationName] = append(childrenOf[parent.OperationName], name)
			// Within the parent; each end may lose up to 1µs to truncation.
			if s.StartTime < parent.StartTime || s.end() > parent.end()+2 {
				t.Errorf("%s [%d, %d] lies outside its parent %s [%d, %d]", name, s.StartTime, s.end(), parent.OperationName, parent.StartTime, parent.end())
			}
		}
		if got := strings.Join(childrenOf["outer"], ","); got != "inner,clock_nanosleep" && got != "clock_nanosleep,inner" {
			t.Errorf("trace %s: outer's children are [%s], want inner and clock_nanosleep", tr.TraceID, got)
		}
		if got := strings.Join(childrenOf["inner"], ","); got != "clock_nanosleep" {
			t.Errorf("trace %s: inner's children are [%s], want clock_nanosleep", tr.TraceID, got)
		}
		if len(childrenOf["clock_nanosleep"]) != 0 {
			t.Errorf("trace %s: clock_nanosleep has children %v", tr.TraceID, childrenOf["clock_nanosleep"])
		}

		// The outer span against the workload's clock: it starts within 1ms after the workload
		// read the clock before the call, ends before it read it after, and its duration is at
		// most 2ms shorter than the workload measured.
		found := -1
		for i, c := range made {
			if d := outer.StartTime - c.Before/1000; d >= -1000 && d <= 1000 {
				found = i
			}
		}
		if found < 0 {
			t.Errorf("trace %s: outer starts at %dµs, within 1ms of no call the workload made (%+v)", tr.TraceID, outer.StartTime, made)
			continue
		}
		if matched[found] {
			t.Errorf("call %d has two outer spans", found)
		}
		matched[found] = true
		c := made[found]
		measured := (c.After - c.Before) / 1000
		if outer.end() > c.After/1000+1000 {
			t.Errorf("call %d: outer ends at %dµs, after the workload saw it return at %dµs", found, outer.end(), c.After/1000)
		}
		if outer.Duration > measured+1 || outer.Duration < measured-2000 {
			t.Errorf("call %d: outer took %dµs, the workload measured %dµs around it", found, outer.Duration, measured)
		}
		if c.Ret != 2*workloadMs+1 {
			t.Errorf("call %d: the workload saw outer return %d", found, c.Ret)
		}
	}
	if len(matched) != len(made) {
		t.Errorf("outer spans match %d of the workload's %d calls", len(matched), len(made))
	}
}
