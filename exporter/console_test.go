package exporter

import (
	"bytes"
	"testing"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

func TestConsoleFormat(t *testing.T) {
	var out bytes.Buffer
	p := newTestPipeline(t, NewConsole(&out), otelbridge.WithBatchSize(10))
	for _, e := range []bpf.Event{spantest.Event(1, 3, "cat"), spantest.Event(1, -2, "cat"), spantest.Event(2, -2, "app"), spantest.Event(1, -512, "cat"), spantest.Event(1, -115, "cat")} {
		p.Add(&e)
	}
	closePipeline(t, p)
	want := "openat returned 3 and took 123456 ns (pid 1234 tid 1240 comm cat)\n" +
		"openat returned -2 (ENOENT) and took 123456 ns (pid 1234 tid 1240 comm cat)\n" +
		"main.handle returned -2 and took 123456 ns (pid 1234 tid 1240 comm app)\n" +
		"openat returned -512 (ERESTARTSYS) and took 123456 ns (pid 1234 tid 1240 comm cat)\n" +
		"openat returned -115 (EINPROGRESS) and took 123456 ns (pid 1234 tid 1240 comm cat)\n"
	if out.String() != want {
		t.Errorf("console output\n%s\nwant\n%s", out.String(), want)
	}
}

func TestDiscard(t *testing.T) {
	p := newTestPipeline(t, Discard{}, otelbridge.WithBatchSize(2))
	e := spantest.Event(1, 0, "cat")
	for range 5 {
		p.Add(&e)
	}
	closePipeline(t, p)
	if st := p.Stats(); st.Exported != 5 {
		t.Errorf("stats %+v", st)
	}
}

// A span with the scheduler split prints it, and where its longest block was: the innermost
// kernel functions past the scheduler and the hook that captured the stack.
func TestConsoleSchedSplit(t *testing.T) {
	var out bytes.Buffer
	stack := "bpf_prog_1_sched_switch_btf+0x13f [kernel]\nbpf_trace_run4+0x10d [kernel]\n__schedule+0x628 [kernel]\nschedule+0x23 [kernel]\n" +
		"io_schedule+0x42 [kernel]\nfolio_wait_bit_common+0x13a [kernel]\nfilemap_read+0x2f5 [kernel]\nvfs_read+0x1e [kernel]\nread+0x10 (/usr/lib/libc.so.6)\n"
	p := newTestPipeline(t, NewConsole(&out), otelbridge.WithBatchSize(10), otelbridge.WithBlockedStacks(func(uint32, int32, int32) (string, bool) { return stack, true }))
	e := bpf.NewSchedEvent(spantest.Event(1, 3, "cat"), bpf.SchedTail{OnCPUNs: 200_000, RunqueueNs: 100_000, BlockedNs: 11_800_000,
		BlockNs: 11_000_000, BlockStartNs: 10, KernelStackID: 1, UserStackID: 2})
	p.Add(e)
	closePipeline(t, p)
	want := "openat returned 3 and took 123456 ns: 0.2 ms on CPU, 0.1 ms runnable, 11.8 ms blocked in io_schedule ← folio_wait_bit_common ← filemap_read (pid 1234 tid 1240 comm cat)\n"
	if out.String() != want {
		t.Errorf("console output\n%s\nwant\n%s", out.String(), want)
	}
}
