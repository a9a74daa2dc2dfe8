package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/otlpreceiver"
)

// Root integration tests: the real kretspan binary traces real workloads on this kernel and
// exports to a real OTLP gRPC receiver.

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// buildTools builds kretspan and the workloads once per test binary.
func buildTools(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kretspan-test-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.dir = dir
		for _, cmd := range [][]string{
			{"go", "build", "-o", filepath.Join(dir, "kretspan"), "."},
			{"go", "build", "-o", filepath.Join(dir, "gonested"), "./testdata/gonested"},
			{"cc", "-O2", "-Wall", "-Werror", "-o", filepath.Join(dir, "nested"), "testdata/nested.c"},
		} {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			if err != nil {
				buildOnce.err = fmt.Errorf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
				return
			}
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.dir
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs (run as root, as .ci/run does)")
	}
}

// kretspanRun is a running kretspan process.
type kretspanRun struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startKretspan starts kretspan and waits until it has attached.
func startKretspan(t *testing.T, dir string, args ...string) *kretspanRun {
	t.Helper()
	r := &kretspanRun{stderr: &lockedBuffer{}}
	r.cmd = exec.Command(filepath.Join(dir, "kretspan"), args...)
	r.cmd.Stdout = &r.stdout
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.stderr.String(), "kretspan: tracing") {
		if time.Now().After(deadline) || r.cmd.ProcessState != nil {
			t.Fatalf("kretspan did not attach:\n%s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// stop sends SIGINT and waits for a clean exit.
func (r *kretspanRun) stop(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGINT)
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("kretspan exited with %v:\n%s", err, r.stderr.String())
	}
}

// workloadCall is one outer() call as the workload timed it.
type workloadCall struct {
	before, after int64 // CLOCK_REALTIME ns
	ret           int64
}

type workload struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stdout   *bufio.Reader
	pid, tid int64
}

func startWorkload(t *testing.T, path string, calls, ms int) *workload {
	t.Helper()
	w := &workload{cmd: exec.Command(path, fmt.Sprint(calls), fmt.Sprint(ms))}
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.stdout = bufio.NewReader(out)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill() })
	line, err := w.stdout.ReadString('\n')
	if _, scanErr := fmt.Sscanf(line, "ready %d %d", &w.pid, &w.tid); err != nil || scanErr != nil {
		t.Fatalf("workload said %q: %v %v", line, err, scanErr)
	}
	return w
}

// run lets the workload make its calls and returns them.
func (w *workload) run(t *testing.T) []workloadCall {
	t.Helper()
	fmt.Fprintln(w.stdin, "go")
	var calls []workloadCall
	for {
		line, err := w.stdout.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var c workloadCall
		if _, err := fmt.Sscanf(line, "call %d %d %d", &c.before, &c.after, &c.ret); err != nil {
			t.Fatalf("workload line %q: %v", line, err)
		}
		calls = append(calls, c)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	return calls
}

func spanDuration(s otlpreceiver.Span) time.Duration {
	return time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano)
}

func within(d, want, slack time.Duration) bool { return d >= want && d <= want+slack }

func TestUprobeNestedCallsBecomeParentAndChild(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	for _, tc := range []struct{ name, binary, outer, inner string }{
		{"C", "nested", "outer", "inner"},
		{"Go", "gonested", "main.outer", "main.inner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const calls, ms = 3, 20
			receiver, err := otlpreceiver.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer receiver.Stop()
			binary := filepath.Join(dir, tc.binary)
			w := startWorkload(t, binary, calls, ms)
			k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(w.pid), "--batch-timeout", "50ms",
				"uprobe:"+binary+":"+tc.outer, "uprobe:"+binary+":"+tc.inner)
			made := w.run(t)
			spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2*calls })
			k.stop(t)
			if len(spans) != 2*calls {
				t.Fatalf("received %d spans, want %d:\n%s", len(spans), 2*calls, k.stderr.String())
			}
			checkNestedSpans(t, spans, made, w, tc.outer, tc.inner, ms)
		})
	}
}

func checkNestedSpans(t *testing.T, spans []otlpreceiver.Span, made []workloadCall, w *workload, outerName, innerName string, ms int) {
	t.Helper()
	step := time.Duration(ms) * time.Millisecond
	const slack = 15 * time.Millisecond // scheduling on a loaded 2-core VM
	byID := map[string]otlpreceiver.Span{}
	var outers []otlpreceiver.Span
	for _, s := range spans {
		byID[hex.EncodeToString(s.SpanId)] = s
		if s.Name == outerName {
			outers = append(outers, s)
		}
	}
	if len(outers) != len(made) {
		t.Fatalf("%d %s spans, want %d", len(outers), outerName, len(made))
	}
	for _, s := range spans {
		if s.Attr("process.pid") != w.pid || s.Attr("thread.id") != w.tid {
			t.Errorf("%s: pid %v tid %v, want %d %d", s.Name, s.Attr("process.pid"), s.Attr("thread.id"), w.pid, w.tid)
		}
		if s.Attr("kretspan.probe.kind") != "uprobe" || s.Resource["service.name"] != "kretspan" {
			t.Errorf("%s: probe kind %v, service %v", s.Name, s.Attr("kretspan.probe.kind"), s.Resource["service.name"])
		}
		switch s.Name {
		case outerName:
			if len(s.ParentSpanId) != 0 {
				t.Errorf("outer span has parent %x", s.ParentSpanId)
			}
			if d := spanDuration(s); !within(d, 2*step, slack) {
				t.Errorf("outer took %v, want about %v", d, 2*step)
			}
			if ret := s.Attr("kretspan.return_value"); ret != int64(2*ms+1) {
				t.Errorf("outer returned %v, want %d", ret, 2*ms+1)
			}
		case innerName:
			parent, ok := byID[hex.EncodeToString(s.ParentSpanId)]
			if !ok || parent.Name != outerName || !bytes.Equal(parent.TraceId, s.TraceId) {
				t.Errorf("inner span's parent %x is not an outer span of its trace", s.ParentSpanId)
				continue
			}
			if s.StartTimeUnixNano < parent.StartTimeUnixNano || s.EndTimeUnixNano > parent.EndTimeUnixNano {
				t.Errorf("inner [%d, %d] lies outside outer [%d, %d]", s.StartTimeUnixNano, s.EndTimeUnixNano, parent.StartTimeUnixNano, parent.EndTimeUnixNano)
			}
			if d := spanDuration(s); !within(d, step, slack) {
				t.Errorf("inner took %v, want about %v", d, step)
			}
			if ret := s.Attr("kretspan.return_value"); ret != int64(2*ms) {
				t.Errorf("inner returned %v, want %d", ret, 2*ms)
			}
		default:
			t.Errorf("unexpected span %q", s.Name)
		}
	}
	// Wall-clock alignment: each outer span starts within 1 ms of the workload's own clock reading.
	for i, call := range made {
		var best *otlpreceiver.Span
		for j := range outers {
			if d := int64(outers[j].StartTimeUnixNano) - call.before; d >= -int64(time.Millisecond) && d <= int64(time.Millisecond) {
				best = &outers[j]
			}
		}
		if best == nil {
			t.Errorf("call %d: no outer span starts within 1ms of the workload's %d", i, call.before)
		} else if int64(best.EndTimeUnixNano) > call.after+int64(time.Millisecond) {
			t.Errorf("call %d: span ends at %d, after the workload saw it return at %d", i, best.EndTimeUnixNano, call.after)
		}
	}
}

func TestConsoleExporterTimesNanosleep(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	const calls, ms = 3, 20
	w := startWorkload(t, filepath.Join(dir, "nested"), calls, ms)
	k := startKretspan(t, dir, "--exporter", "console", "--pid", fmt.Sprint(w.pid), "syscall:clock_nanosleep", "syscall:nanosleep")
	w.run(t)
	time.Sleep(300 * time.Millisecond) // past the reader's poll deadline
	k.stop(t)
	lines := strings.Split(strings.TrimSpace(k.stdout.String()), "\n")
	if len(lines) != 2*calls {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), 2*calls, k.stdout.String())
	}
	for _, line := range lines {
		var name string
		var ret, ns, pid, tid int64
		var comm string
		if _, err := fmt.Sscanf(line, "%s returned %d and took %d ns (pid %d tid %d comm %s", &name, &ret, &ns, &pid, &tid, &comm); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if !strings.HasSuffix(name, "nanosleep") || ret != 0 || pid != w.pid || tid != w.tid || comm != "nested)" {
			t.Errorf("line %q: want a nanosleep returning 0 from pid %d tid %d comm nested", line, w.pid, w.tid)
		}
		if d := time.Duration(ns); !within(d, time.Duration(ms)*time.Millisecond, 15*time.Millisecond) {
			t.Errorf("line %q: took %v, want about %dms", line, d, ms)
		}
	}
	if !strings.Contains(k.stderr.String(), "syscall:") {
		t.Errorf("no per-probe summary at exit:\n%s", k.stderr.String())
	}
}

func TestNestingDeeperThanTheStackIsCounted(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	receiver, err := otlpreceiver.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Stop()
	binary := filepath.Join(dir, "nested")
	w := startWorkload(t, binary, 0, 1)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(w.pid), "--batch-timeout", "50ms", "uprobe:"+binary+":recurse")
	w.run(t)
	const depth, stack = 10, 8
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= stack })
	k.stop(t)
	if len(spans) != stack {
		t.Fatalf("received %d spans, want the %d that fit the stack", len(spans), stack)
	}
	// The spans form one chain: each return value n has the span returning n+1 as its parent.
	byReturn := map[int64]otlpreceiver.Span{}
	for _, s := range spans {
		byReturn[s.Attr("kretspan.return_value").(int64)] = s
	}
	for ret := int64(depth - stack + 1); ret < depth; ret++ {
		child, parent := byReturn[ret], byReturn[ret+1]
		if child.Span == nil || parent.Span == nil || !bytes.Equal(child.ParentSpanId, parent.SpanId) {
			t.Errorf("span returning %d is not the child of the one returning %d", ret, ret+1)
		}
	}
	if summary := k.stderr.String(); !regexp.MustCompile(`uprobe:\S+:recurse\s+10\s+8\s+0\s+0\s+2\s+0\s+0\s`).MatchString(summary) {
		t.Errorf("summary does not show 10 calls, 8 exported, 2 dropped:\n%s", summary)
	}
}
