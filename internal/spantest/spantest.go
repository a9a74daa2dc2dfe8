// Package spantest holds the kernel records and probes that the span-building, encoding and
// exporting tests share.
package spantest

import (
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
