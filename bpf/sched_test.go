package bpf

import (
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"
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

// Each way of hooking the scheduler this kernel has gives sleeps their blocked time: tp_btf
// (with task storage where the kernel has it) and raw tracepoints (by thread id).
func TestKernelSchedHooks(t *testing.T) {
	requireRoot(t)
	defer func(saved []schedHook) { schedHookChoices = saved }(schedHookChoices)
	for _, hook := range schedHooks {
		t.Run(hook.name, func(t *testing.T) {
			if err := hook.supportedError(); err != nil {
				t.Skipf("%s: %v", hook.name, err)
			}
			schedHookChoices = []schedHook{hook}
			const calls, sleep = 10, 20 * time.Millisecond
			// A sleep's blocked time is the sleep less the time the thread ran before it left the
			// CPU: microseconds, but in the emulated kernel matrix, where a vCPU that is not being
			// emulated looks busy to the guest, up to a few ticks.
			// In the emulated matrix run-queue time, in the guest's scheduler clock, may also
			// disagree with the span's clock, by more when the host is loaded (3.6 ms in a 31 ms
			// sleep seen on 5.10): the sum gets a tenth of the span and 2 ms more room there.
			slack, emulatedSumSlack := sleep/10, false
			if os.Getenv("KRETSPAN_VMTEST") != "" {
				slack, emulatedSumSlack = 8*time.Millisecond, true
			}
			var splits []SchedTail
			var durations []time.Duration
			events, _, _ := traceProbesWith(t, thisProcess(), Filter{Sched: true}, func() {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				for range calls {
					nanosleep(sleep)
				}
			}, func(e *Event) {
				if s := e.Sched(); s != nil {
					splits = append(splits, *s)
					durations = append(durations, time.Duration(e.EndNs-e.StartNs))
				}
			}, "syscall:clock_nanosleep")
			if len(splits) != calls || len(events) != calls {
				t.Fatalf("%d events, %d with a split; want %d each", len(events), len(splits), calls)
			}
			for i, s := range splits {
				d := durations[i]
				sum, sumSlack := time.Duration(s.OnCPUNs+s.RunqueueNs+s.BlockedNs), d/100
				if emulatedSumSlack {
					sumSlack = d/10 + 2*time.Millisecond
				}
				if time.Duration(s.BlockedNs) < sleep-slack || sum < d-sumSlack || sum > d+sumSlack || s.VoluntarySwitches < 1 {
					t.Errorf("sleep of %v lasting %v: split %+v", sleep, d, s)
				}
			}
		})
	}
}

// A record with both tails has the sched tail first and the args tail after it, as emit writes
// them: each is read from its own place.
func TestSchedAndArgsTailsDecodeApart(t *testing.T) {
	tail := SchedTail{OnCPUNs: 1, RunqueueNs: 2, BlockedNs: 3, UserStackID: -1}
	const argsSize = argValuesHeaderSize + argValueSize
	record := make([]uint64, (EventSize+SchedTailSize+argsSize)/8)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&record[0])), len(record)*8)
	*(*Event)(unsafe.Pointer(&raw[0])) = Event{ProbeId: 3, Flags: EventSched | EventArgs}
	*(*SchedTail)(unsafe.Pointer(&raw[EventSize])) = tail
	args := raw[EventSize+SchedTailSize:]
	*(*uint16)(unsafe.Pointer(&args[0])) = uint16(argsSize)
	args[argValuesHeaderSize] = 0xa5
	e, err := DecodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	if *e.Sched() != tail {
		t.Errorf("sched tail %+v, want %+v", *e.Sched(), tail)
	}
	if got := ArgsTail(e); len(got) != argsSize || got[argValuesHeaderSize] != 0xa5 {
		t.Errorf("args tail %x, want the %d bytes after the sched tail", got, argsSize)
	}
	if _, err := DecodeEvent(raw[:EventSize+SchedTailSize+argValuesHeaderSize]); err == nil {
		t.Error("a record whose args tail is cut short decoded")
	}
}
