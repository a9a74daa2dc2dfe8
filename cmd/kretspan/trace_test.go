package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

func spanDuration(s otlpreceiver.Span) time.Duration {
	return time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano)
}

// clockTolerance covers converting kernel timestamps to wall-clock time.
const clockTolerance = 100 * time.Microsecond

func TestKernelUprobeNestedCallsBecomeParentAndChild(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	for _, tc := range []struct{ name, binary, outer, inner string }{
		{"C", "nested", "outer", "inner"},
		{"Go", "gonested", "main.outer", "main.inner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const calls, ms = 3, 20
			receiver := startReceiver(t)
			binary := filepath.Join(dir, tc.binary)
			w := testprocess.StartWorkload(t, binary, fmt.Sprint(calls), fmt.Sprint(ms))
			k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(w.PID), "--batch-timeout", "50ms",
				"uprobe:"+binary+":"+tc.outer, "uprobe:"+binary+":"+tc.inner)
			made := w.Run(t)
			spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2*calls })
			k.Stop(t)
			if len(spans) != 2*calls {
				t.Fatalf("received %d spans, want %d:\n%s", len(spans), 2*calls, k.Stderr())
			}
			checkNestedSpans(t, spans, made, w, tc.outer, tc.inner, ms)
		})
	}
}

func checkNestedSpans(t *testing.T, spans []otlpreceiver.Span, made []testprocess.Call, w *testprocess.Workload, outerName, innerName string, ms int) {
	t.Helper()
	// Durations are checked against ground truth: at least the sleeps the code makes, at most
	// what the workload measured around the call (or the parent span) — not a fixed slack,
	// which a loaded machine would break.
	step := time.Duration(ms) * time.Millisecond
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
		if s.Attr("process.pid") != w.PID || s.Attr("thread.id") != w.TID {
			t.Errorf("%s: pid %v tid %v, want %d %d", s.Name, s.Attr("process.pid"), s.Attr("thread.id"), w.PID, w.TID)
		}
		// The workload names no service: its spans' service is its executable's name.
		if exe := filepath.Base(w.Cmd.Path); s.Attr("kretspan.probe.kind") != "uprobe" || s.Resource["service.name"] != exe || s.Resource["process.pid"] != w.PID {
			t.Errorf("%s: probe kind %v, service %v of process %v; want uprobe, service %s of %d", s.Name, s.Attr("kretspan.probe.kind"), s.Resource["service.name"], s.Resource["process.pid"], exe, w.PID)
		}
		switch s.Name {
		case outerName:
			if len(s.ParentSpanId) != 0 {
				t.Errorf("outer span has parent %x", s.ParentSpanId)
			}
			if d := spanDuration(s); d < 2*step {
				t.Errorf("outer took %v, less than its two sleeps of %v", d, step)
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
			if d := spanDuration(s); d < step || d > spanDuration(parent)-step+clockTolerance {
				t.Errorf("inner took %v, want at least its sleep of %v and at most outer's %v less outer's own sleep", d, step, spanDuration(parent))
			}
			if ret := s.Attr("kretspan.return_value"); ret != int64(2*ms) {
				t.Errorf("inner returned %v, want %d", ret, 2*ms)
			}
		default:
			t.Errorf("unexpected span %q", s.Name)
		}
	}
	// Wall-clock alignment: each outer span starts within 1 ms of the workload's own clock reading
	// (20 ms on emulated kernels, where a uprobe's trap alone can take milliseconds, or anywhere
	// inside the call as the workload timed it: an emulated arm64 guest on a loaded host took 25 ms).
	alignment := int64(time.Millisecond)
	emulated := os.Getenv("KRETSPAN_VMTEST") != ""
	if emulated {
		alignment = int64(20 * time.Millisecond)
	}
	for i, call := range made {
		var best *otlpreceiver.Span
		closest := int64(math.MaxInt64)
		latest := alignment
		if emulated {
			latest = max(alignment, call.After-call.Before)
		}
		for j := range outers {
			d := int64(outers[j].StartTimeUnixNano) - call.Before
			if d >= -alignment && d <= latest {
				best = &outers[j]
			}
			if abs(d) < abs(closest) {
				closest = d
			}
		}
		if best == nil {
			t.Errorf("call %d: no outer span starts within %v of the workload's clock reading; the closest starts %v after it",
				i, time.Duration(alignment), time.Duration(closest))
		} else if measured := time.Duration(call.After - call.Before); spanDuration(*best) > measured+clockTolerance {
			t.Errorf("call %d: span took %v, longer than the %v the workload measured around it", i, spanDuration(*best), measured)
		}
	}
}

func TestKernelConsoleExporterTimesNanosleep(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	const calls, ms = 3, 20
	w := testprocess.StartWorkload(t, filepath.Join(dir, "nested"), fmt.Sprint(calls), fmt.Sprint(ms))
	k := startKretspan(t, dir, "--exporter", "console", "--pid", fmt.Sprint(w.PID), "syscall:clock_nanosleep", "syscall:nanosleep")
	made := w.Run(t)
	time.Sleep(300 * time.Millisecond) // past the reader's poll deadline
	k.Stop(t)
	lines := strings.Split(strings.TrimSpace(k.Stdout()), "\n")
	if len(lines) != 2*calls {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), 2*calls, k.Stdout())
	}
	for _, line := range lines {
		var name string
		var ret, ns, pid, tid int64
		var comm string
		if _, err := fmt.Sscanf(line, "%s returned %d and took %d ns (pid %d tid %d comm %s", &name, &ret, &ns, &pid, &tid, &comm); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if !strings.HasSuffix(name, "nanosleep") || ret != 0 || pid != w.PID || tid != w.TID || comm != "nested)" {
			t.Errorf("line %q: want a nanosleep returning 0 from pid %d tid %d comm nested", line, w.PID, w.TID)
		}
		// Each sleep lasts at least what was asked, and less than the outer call around it.
		if d := time.Duration(ns); d < time.Duration(ms)*time.Millisecond || d > longestCall(made) {
			t.Errorf("line %q: took %v, want at least %dms and at most %v", line, d, ms, longestCall(made))
		}
	}
	if !strings.Contains(k.Stderr(), "syscall:") {
		t.Errorf("no per-probe summary at exit:\n%s", k.Stderr())
	}
}

func TestKernelNestingDeeperThanTheStackIsCounted(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	receiver := startReceiver(t)
	binary := filepath.Join(dir, "nested")
	w := testprocess.StartWorkload(t, binary, "0", "1")
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(w.PID), "--batch-timeout", "50ms", "uprobe:"+binary+":recurse")
	w.Run(t)
	const depth, stack = 10, 8
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= stack })
	k.Stop(t)
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
	row := summaryRow(t, k.Stderr(), ":recurse")
	if calls, exported, dropped, inFlight := row[0], row[1], row[4], row[6]; calls != depth || exported != stack || dropped != depth-stack || inFlight != 0 {
		t.Errorf("summary row %v: want %d calls, %d exported, %d dropped, none in flight", row, depth, stack, depth-stack)
	}
}

// A C int is 32 bits: kretspan reads the return type from DWARF and sign-extends it.
func TestKernelNegativeIntReturnFromDebugInfo(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	binary := filepath.Join(dir, "nested")
	w := testprocess.StartWorkload(t, binary, "0", "1")
	receiver, k := traceProcess(t, dir, w.PID, "uprobe:"+binary+":negative")
	w.Run(t)
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 1 })
	k.Stop(t)
	if len(spans) != 1 || spans[0].Attr("kretspan.return_value") != int64(-22) {
		t.Fatalf("want one span returning -22, got %d spans (%v)", len(spans), spans)
	}
	if spans[0].Attr("error.type") != nil || spans[0].GetStatus().GetCode() != 0 {
		t.Errorf("a user-space function's negative return is not an errno: %v", spans[0])
	}
}

func abs(n int64) int64 { return max(n, -n) }

func longestCall(calls []testprocess.Call) time.Duration {
	var longest time.Duration
	for _, c := range calls {
		longest = max(longest, time.Duration(c.After-c.Before))
	}
	return longest
}

// kretspan's own writes (its OTLP exports) would trace themselves; it leaves its process out.
func TestKernelKretspanDoesNotTraceItself(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	receiver := startReceiver(t)
	d := startDriver(t, dir)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "20ms", "syscall:read", "syscall:write", "syscall:sendmsg")
	for range 5 {
		d.Do(t, "read /proc/version") // traced calls, so that kretspan exports while tracing
		time.Sleep(50 * time.Millisecond)
	}
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) > 0 })
	k.Stop(t)
	self := int64(k.PID())
	for _, s := range receiver.Spans() {
		if s.Attr("process.pid") == self {
			t.Fatalf("kretspan traced its own %s", s.Name)
		}
	}
	if len(spans) == 0 {
		t.Fatal("no spans at all")
	}
}

// A binary replaced during a run (an upgrade renames a new file over it): uprobes stay on the old
// file, so processes still running it are traced on and those started from the new file are not;
// kretspan keeps running either way. Tracing the new file takes a new kretspan run.
func TestKernelReplacedBinaryKeepsTracingTheOldOne(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	binary := filepath.Join(t.TempDir(), "nested")
	copyFile(t, filepath.Join(dir, "nested"), binary)
	old := testprocess.StartWorkload(t, binary, "2", "5")
	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms", "uprobe:"+binary+":outer")

	copyFile(t, filepath.Join(dir, "nested"), binary+".new")
	if err := os.Rename(binary+".new", binary); err != nil {
		t.Fatal(err)
	}
	old.Run(t)
	replaced := testprocess.StartWorkload(t, binary, "2", "5")
	replaced.Run(t)
	receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2 })
	time.Sleep(300 * time.Millisecond)
	k.Stop(t)
	spans := receiver.Spans()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want the old process's 2 outer calls", len(spans))
	}
	for _, s := range spans {
		if s.Attr("process.pid") != old.PID {
			t.Errorf("span from pid %v, want only the process running the old file (%d)", s.Attr("process.pid"), old.PID)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
