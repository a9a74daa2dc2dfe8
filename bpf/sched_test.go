package bpf

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

// SchedTail is written by hand; the compiled object's BTF says what struct sched_tail is.
func TestSchedTailLayoutMatchesObject(t *testing.T) {
	spec, err := loadKretspan()
	if err != nil {
		t.Fatal(err)
	}
	var tail *btf.Struct
	if err := spec.Types.TypeByName("sched_tail", &tail); err != nil {
		t.Fatal(err)
	}
	goType := reflect.TypeFor[SchedTail]()
	if int(tail.Size) != SchedTailSize || len(tail.Members) != goType.NumField() {
		t.Fatalf("struct sched_tail has %d bytes and %d fields, SchedTail %d and %d", tail.Size, len(tail.Members), SchedTailSize, goType.NumField())
	}
	for i, m := range tail.Members {
		f := goType.Field(i)
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			t.Fatal(err)
		}
		if uint32(m.Offset.Bytes()) != uint32(f.Offset) || size != int(f.Type.Size()) {
			t.Errorf("%s at %d (%d bytes), Go's %s at %d (%d bytes)", m.Name, m.Offset.Bytes(), size, f.Name, f.Offset, f.Type.Size())
		}
	}
}

func TestSchedEventRoundTrip(t *testing.T) {
	tail := SchedTail{OnCPUNs: 1, RunqueueNs: 2, BlockedNs: 3, VoluntarySwitches: 4, InvoluntarySwitches: 5, BlockNs: 6, BlockStartNs: 7, KernelStackID: 8, UserStackID: -1}
	e := NewSchedEvent(Event{ProbeId: 3}, tail)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(e)), EventSize+SchedTailSize)
	got, err := DecodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sched() == nil || *got.Sched() != tail || got.ProbeId != 3 {
		t.Errorf("decoded %+v with %+v, want %+v", got, got.Sched(), tail)
	}
	if _, err := DecodeEvent(raw[:EventSize]); err == nil {
		t.Error("a record announcing a sched tail it does not have decoded")
	}
	if (&Event{}).Sched() != nil {
		t.Error("an event without EventSched has a tail")
	}
}
