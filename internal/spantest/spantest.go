// Package spantest holds the kernel records and probes that the span-building, encoding and
// exporting tests share.
package spantest

import (
	"math"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

// The probes of the tests' records: a syscall, with the errno convention, and a user function.
var (
	SyscallTarget = probe.Target{ID: 1, Kind: probe.KindSyscall, Name: "openat", ReturnsErrno: true}
	UprobeTarget  = probe.Target{ID: 2, Kind: probe.KindUprobe, Name: "main.handle", Binary: "/usr/bin/app"}
)

// Event is a record of a call of probe probeID with a parent, every field set to a known value.
func Event(probeID uint32, ret int64, comm string) bpf.Event {
	e := bpf.Event{
		SpanId:       0x1122334455667788,
		ParentSpanId: 0x99aabbccddeeff01,
		StartNs:      5_000_000_000,
		EndNs:        5_000_123_456,
		Ret:          ret,
		Pid:          1234,
		Tid:          1240,
		ProbeId:      probeID,
		Cpu:          6,
	}
	for i := range e.TraceId {
		e.TraceId[i] = byte(i + 1)
	}
	copy(e.Comm[:], comm)
	return e
}

// VariedEvents are n records of SyscallTarget's and UprobeTarget's calls that take every path of
// span encoding: errno and plain returns, spans with a parent, without one and with an
// application parent that becomes a link, several thread names (one not ASCII), and values whose
// varints take one to ten bytes.
func VariedEvents(n int) []bpf.Event {
	comms := []string{"cat", "", "kworker/u16:3-ev", "naïve"}
	rets := []int64{-2, 0, 7, -4095, math.MinInt64, math.MaxInt64, -4096, -11, 1 << 20}
	events := make([]bpf.Event, n)
	for i := range events {
		e := Event(uint32(1+i%2), rets[i%len(rets)], comms[i%len(comms)])
		e.TraceId[0] = byte(i)
		e.SpanId = uint64(i)*0x9e3779b97f4a7c15 + 1
		e.Pid, e.Tid, e.Cpu = uint32(i*977), uint32(i*13), uint32(i%64)
		e.EndNs += uint64(i) << 20
		switch i % 3 {
		case 1:
			e.ParentSpanId = 0
		case 2:
			e.Flags = bpf.EventRemoteParent
			e.BoundWallNs = math.MaxUint64 // bound after the call started: the parent becomes a link
		}
		events[i] = e
	}
	return events
}
