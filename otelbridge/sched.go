package otelbridge

import (
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
