package otelbridge

import (
	"strings"

	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/otlpwire"
)

// The scheduler split's attributes (--sched): how the call's duration divides, and its context
// switches.
const (
	AttrSchedOnCPU               = "kretspan.sched.on_cpu_ns"
	AttrSchedRunqueue            = "kretspan.sched.runqueue_ns"
	AttrSchedBlocked             = "kretspan.sched.blocked_ns" // also on the blocked event: that block's
	AttrSchedVoluntarySwitches   = "kretspan.sched.voluntary_switches"
	AttrSchedInvoluntarySwitches = "kretspan.sched.involuntary_switches"
	AttrCodeStacktrace           = string(semconv.CodeStacktraceKey) // on the blocked event
	// BlockedEventName names the span event of a call's longest block.
	BlockedEventName = "blocked"
)

// schedAttributes are the split's attributes, in the order spans carry them, each with its value.
var schedAttributes = [...]struct {
	key   string
	value func(*bpf.SchedTail) int64
}{
	{AttrSchedOnCPU, func(s *bpf.SchedTail) int64 { return int64(s.OnCPUNs) }},
	{AttrSchedRunqueue, func(s *bpf.SchedTail) int64 { return int64(s.RunqueueNs) }},
	{AttrSchedBlocked, func(s *bpf.SchedTail) int64 { return int64(s.BlockedNs) }},
	{AttrSchedVoluntarySwitches, func(s *bpf.SchedTail) int64 { return int64(s.VoluntarySwitches) }},
	{AttrSchedInvoluntarySwitches, func(s *bpf.SchedTail) int64 { return int64(s.InvoluntarySwitches) }},
}

var schedIntAttributes [len(schedAttributes)]*otlpwire.IntAttribute

func init() {
	for i, row := range schedAttributes {
		schedIntAttributes[i] = otlpwire.NewIntAttribute(otlpwire.SpanAttribute, otlpwire.NewKey(row.key))
	}
}

// appendSchedAttributes appends the split's attributes of a span.
func appendSchedAttributes(dst []byte, split *bpf.SchedTail) []byte {
	for i, row := range schedAttributes {
		dst = schedIntAttributes[i].Append(dst, row.value(split))
	}
	return dst
}

var (
	stacktraceKey    = otlpwire.NewKey(AttrCodeStacktrace)
	blockedAttribute = otlpwire.NewIntAttribute(otlpwire.EventAttribute, otlpwire.NewKey(AttrSchedBlocked))
)

// appendBlockedEvent appends the span event of the call's longest block, at the time it began.
func appendBlockedEvent(dst []byte, split *bpf.SchedTail, clock *WallClock, stack string) []byte {
	dst, mark := otlpwire.OpenMessage(dst, otlpwire.SpanEvent)
	dst = otlpwire.AppendFixed64(dst, otlpwire.EventTimeUnixNano, clock.UnixNano(split.BlockStartNs))
	dst = otlpwire.AppendString(dst, otlpwire.EventName, BlockedEventName)
	dst = otlpwire.AppendStringAttribute(dst, otlpwire.EventAttribute, stacktraceKey, strings.ToValidUTF8(stack, "\uFFFD"))
	dst = blockedAttribute.Append(dst, int64(split.BlockNs))
	return otlpwire.CloseMessage(dst, mark)
}

// blockedStack is the stack text of the event's longest block, "" for none.
func (p *Pipeline) blockedStack(event *bpf.Event) string {
	split := event.Sched()
	if p.cfg.stacks == nil || split == nil || split.BlockNs == 0 {
		return ""
	}
	text, _ := p.cfg.stacks(event.Pid, split.KernelStackID, split.UserStackID)
	return text
}
