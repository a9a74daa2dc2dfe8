package bpf

import (
	"fmt"
	"unsafe"
)

// Event is one completed call as the BPF programs record it (struct event in kretspan.h).
type Event = kretspanEvent

// ProbeCounters are one probe's call counters (struct probe_counters in kretspan.h).
type ProbeCounters = kretspanProbeCounters

// EventRemoteParent flags an event whose parent is an application span (EVENT_REMOTE_PARENT).
const EventRemoteParent = 1

// EventSize is the size of one ring-buffer record.
const EventSize = int(unsafe.Sizeof(Event{}))

// DecodeEvent views a ring-buffer record as an Event without copying. The Event aliases raw,
// so it is valid only until raw is reused.
func DecodeEvent(raw []byte) (*Event, error) {
	if len(raw) < EventSize {
		return nil, fmt.Errorf("ring-buffer record of %d bytes, want %d", len(raw), EventSize)
	}
	if uintptr(unsafe.Pointer(&raw[0]))%unsafe.Alignof(Event{}) != 0 {
		return nil, fmt.Errorf("ring-buffer record not %d-byte aligned", unsafe.Alignof(Event{}))
	}
	return (*Event)(unsafe.Pointer(&raw[0])), nil
}

// Add accumulates other into c (summing per-CPU values).
func (c *ProbeCounters) Add(other *ProbeCounters) {
	c.Entered += other.Entered
	c.Submitted += other.Submitted
	c.FilteredEntry += other.FilteredEntry
	c.FilteredDuration += other.FilteredDuration
	c.FilteredErrors += other.FilteredErrors
	c.SampledOut += other.SampledOut
	c.DropInflightFull += other.DropInflightFull
	c.DropDepth += other.DropDepth
	c.DropRingbufFull += other.DropRingbufFull
	c.MissedReturn += other.MissedReturn
	c.OrphanReturn += other.OrphanReturn
	c.LatencySumNs += other.LatencySumNs
	for i := range c.LatencyLog2 {
		c.LatencyLog2[i] += other.LatencyLog2[i]
	}
}

// Filtered is every call filtered out in the kernel.
func (c *ProbeCounters) Filtered() uint64 {
	return c.FilteredEntry + c.FilteredDuration + c.FilteredErrors
}

// Dropped is every call lost in the kernel for want of room.
func (c *ProbeCounters) Dropped() uint64 {
	return c.DropInflightFull + c.DropDepth + c.DropRingbufFull + c.MissedReturn
}

// InFlight is the calls entered that have not yet ended in any other count: their returns are
// still to come (or were lost without a later return on the thread to notice).
func (c *ProbeCounters) InFlight() uint64 {
	ended := c.Submitted + c.Filtered() + c.SampledOut + c.Dropped()
	if ended > c.Entered {
		return 0 // entries counted on one CPU, returns on another, read at slightly different times
	}
	return c.Entered - ended
}
