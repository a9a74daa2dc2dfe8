package bpf

import (
	"fmt"
	"unsafe"
)

// Event is one completed call as the BPF programs record it (struct event in kretspan.h).
type Event = kretspanEvent

// EventRemoteParent flags an event whose parent is an application span (enum event_flag).
const EventRemoteParent = uint32(kretspanEventFlagEVENT_REMOTE_PARENT)

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
	event := (*Event)(unsafe.Pointer(&raw[0]))
	if want := recordSize(event.Flags); len(raw) < want {
		return nil, fmt.Errorf("ring-buffer record of %d bytes, want %d for its tails (flags %#x)", len(raw), want, event.Flags)
	}
	if err := checkArgsTail(raw, event.Flags); err != nil {
		return nil, err
	}
	return event, nil
}
