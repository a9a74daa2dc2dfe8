package otelbridge

import (
	"strings"
	"testing"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
)

// A span with the scheduler split carries its attributes and, with a named stack, the blocked
// event; buildSpan checks the bytes are protobuf-go's.
func TestSchedSpan(t *testing.T) {
	info := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	clock := fixedClock(1_700_000_000_000_000_000)
	tail := bpf.SchedTail{OnCPUNs: 200_000, RunqueueNs: 100_000, BlockedNs: 11_800_000, VoluntarySwitches: 3, InvoluntarySwitches: 1,
		BlockNs: 11_000_000, BlockStartNs: 1_500, KernelStackID: 4, UserStackID: -14}
	event := bpf.NewSchedEvent(spantest.Event(1, 0, "cat"), tail)
	for _, stack := range []string{"", "io_schedule+0x12 [kernel]\nfolio_wait_bit_common+0x130 [kernel]\n", strings.Repeat("a_long_frame+0x1 [kernel]\n", 1000)} {
		span := buildSpanWithStack(t, event, &info, clock, "cat", stack)
		got := attrs(span)
		for key, want := range map[string]int64{AttrSchedOnCPU: 200_000, AttrSchedRunqueue: 100_000, AttrSchedBlocked: 11_800_000,
			AttrSchedVoluntarySwitches: 3, AttrSchedInvoluntarySwitches: 1} {
			if got[key] != want {
				t.Errorf("%s = %v, want %d", key, got[key], want)
			}
		}
		if stack == "" {
			if len(span.Events) != 0 {
				t.Errorf("a span without a named stack has events %v", span.Events)
			}
			continue
		}
		if len(span.Events) != 1 {
			t.Fatalf("events %v, want the blocked one", span.Events)
		}
		e := span.Events[0]
		if e.Name != BlockedEventName || e.TimeUnixNano != clock.UnixNano(tail.BlockStartNs) || len(e.Attributes) != 2 ||
			e.Attributes[0].Key != AttrCodeStacktrace || e.Attributes[0].Value.GetStringValue() != stack ||
			e.Attributes[1].Key != AttrSchedBlocked || e.Attributes[1].Value.GetIntValue() != 11_000_000 {
			t.Errorf("blocked event %v", e)
		}
	}
	// Without a split, no attribute of it.
	plain := spantest.Event(1, 0, "cat")
	if got := attrs(buildSpanWithStack(t, &plain, &info, clock, "cat", "ignored")); got[AttrSchedOnCPU] != nil {
		t.Errorf("a span without a split has %s", AttrSchedOnCPU)
	}
}
