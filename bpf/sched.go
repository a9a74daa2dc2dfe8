package bpf

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
)

// SchedTail is a call's scheduler split (struct sched_tail in sched.bpf.h), which follows its
// Event in the record when the Event's flags have EventSched.
type SchedTail struct {
	OnCPUNs             uint64
	RunqueueNs          uint64
	BlockedNs           uint64
	VoluntarySwitches   uint32
	InvoluntarySwitches uint32
	// BlockNs is the call's longest block of at least the --blocked-stack-min; 0: none.
	BlockNs      uint64
	BlockStartNs uint64 // CLOCK_MONOTONIC, as Event.StartNs
	// KernelStackID and UserStackID name the stacks where that block began (Tracer.Stack);
	// negative: none.
	KernelStackID int32
	UserStackID   int32
}

// EventSched flags an event followed by its SchedTail (enum event_flag).
const EventSched = uint32(kretspanEventFlagEVENT_SCHED)

// SchedTailSize is the size of the sched tail in a record.
const SchedTailSize = int(unsafe.Sizeof(SchedTail{}))

// Sched is the event's scheduler split, nil when it has none. An event with EventSched must come
// from DecodeEvent or NewSchedEvent, which place the tail after it.
func (e *Event) Sched() *SchedTail {
	if e.Flags&EventSched == 0 {
		return nil
	}
	return (*SchedTail)(unsafe.Add(unsafe.Pointer(e), EventSize))
}

// NewSchedEvent returns a copy of e followed by tail, as a record carries them.
func NewSchedEvent(e Event, tail SchedTail) *Event {
	record := make([]uint64, (EventSize+SchedTailSize)/8)
	event := (*Event)(unsafe.Pointer(&record[0]))
	*event = e
	event.Flags |= EventSched
	*(*SchedTail)(unsafe.Add(unsafe.Pointer(event), EventSize)) = tail
	return event
}

// recordSize is the size of a record's fixed-size parts with these event flags: the event and
// the sched tail. The args tail, of its own announced size, follows them.
func recordSize(flags uint32) int {
	n := EventSize
	if flags&EventSched != 0 {
		n += SchedTailSize
	}
	return n
}

// SchedOptions configures the scheduler split.
type SchedOptions struct {
	// BlockedStacks captures the stacks where each call's longest block of at least
	// BlockedStackMin began.
	BlockedStacks   bool
	BlockedStackMin time.Duration
}

// schedHook is one way to attach the scheduler hooks: tp_btf, whose task pointers find a thread's
// state in task storage, or raw tracepoints, which find it by thread id in a table.
type schedHook struct {
	name           string
	switchProgram  func(*kretspanProgramSpecs) *ebpf.ProgramSpec
	wakeupProgram  func(*kretspanProgramSpecs) *ebpf.ProgramSpec
	taskStorage    bool // with task storage for the probes' programs
	attachTracing  bool // link.AttachTracing, else link.AttachRawTracepoint
	supportedError func() error
}

// schedHookChoices are the hooks Start may pick from: every one, but for tests of one.
var schedHookChoices = schedHooks

// schedHooks are the ways to attach, best first.
var schedHooks = []schedHook{
	{
		name:           "tp_btf",
		switchProgram:  func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.SchedSwitchBtf },
		wakeupProgram:  func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.SchedWakeupBtf },
		taskStorage:    true,
		attachTracing:  true,
		supportedError: haveTpBtf,
	},
	{
		name:           "raw_tp",
		switchProgram:  func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.SchedSwitchRaw },
		wakeupProgram:  func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.SchedWakeupRaw },
		supportedError: func() error { return features.HaveProgramType(ebpf.RawTracepoint) },
	},
}

// pickSchedHook is the best way this kernel offers to attach the scheduler hooks, among hooks.
func pickSchedHook(hooks []schedHook) (schedHook, error) {
	var errs []error
	for _, h := range hooks {
		err := h.supportedError()
		if err == nil {
			return h, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", h.name, err))
	}
	return schedHook{}, fmt.Errorf("no way to hook the scheduler: %w", errors.Join(errs...))
}

// haveTpBtf loads an empty tp_btf program on sched_switch.
func haveTpBtf() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "sched_switch",
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return fmt.Errorf("tp_btf programs do not load: %w", err)
	}
	return prog.Close()
}

// configureSched sets the split's constants and sizes its maps; with no probe asking for it,
// the programs drop the split's work and its maps shrink to one entry.
func configureSched(s *kretspanSpecs, cfg Config, probes []Probe) (schedHook, error) {
	enabled := false
	for _, p := range probes {
		enabled = enabled || p.Filter.Sched
	}
	var hook schedHook
	taskStorage := false
	if enabled {
		var err error
		if hook, err = pickSchedHook(schedHookChoices); err != nil {
			return hook, err
		}
		taskStorage = hook.taskStorage && haveTaskStorage() == nil
	}
	if !enabled || taskStorage {
		s.SchedThreads.MaxEntries = 1
	} else {
		s.SchedThreads.MaxEntries = cfg.MaxInflight
		if s.SchedThreads.MaxEntries == 0 {
			s.SchedThreads.MaxEntries = DefaultMaxInflight
		}
	}
	if !taskStorage {
		unused := s.SchedTasks
		unused.Type, unused.Flags, unused.MaxEntries = ebpf.Array, 0, 1
	}
	stacks := enabled && cfg.Sched.BlockedStacks
	if !stacks {
		s.BlockedStackTraces.MaxEntries = 1
	}
	for _, v := range []struct {
		spec  *ebpf.VariableSpec
		value any
	}{
		{s.SchedEnabled, boolByte(enabled)},
		{s.SchedTaskStorage, boolByte(taskStorage)},
		{s.BlockedStacks, boolByte(stacks)},
		{s.BlockedStackMinNs, uint64(max(cfg.Sched.BlockedStackMin, 0))},
	} {
		if err := v.spec.Set(v.value); err != nil {
			return hook, fmt.Errorf("set %s: %w", v.spec.Name, err)
		}
	}
	return hook, nil
}

// attachSched attaches the scheduler hooks, before any probe, so that no call is entered while
// its thread's switches go unseen.
func (t *Tracer) attachSched(hook schedHook) error {
	programs, err := t.loadInstance(nil, hook.switchProgram, hook.wakeupProgram)
	if err != nil {
		return fmt.Errorf("load scheduler hooks (%s): %w", hook.name, err)
	}
	for i, tracepoint := range []string{"sched_switch", "sched_wakeup"} {
		var l link.Link
		if hook.attachTracing {
			l, err = link.AttachTracing(link.TracingOptions{Program: programs[i]})
		} else {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: tracepoint, Program: programs[i]})
		}
		if err != nil {
			return fmt.Errorf("attach %s to %s: %w", hook.name, tracepoint, explainPermission(err))
		}
		t.links = append(t.links, l)
	}
	return nil
}

// ErrStackLost is a stack id whose stack the map no longer holds.
var ErrStackLost = errors.New("stack not in the stack map")

// Stack returns the instruction pointers of a stack that a SchedTail names.
func (t *Tracer) Stack(id int32) ([]uint64, error) {
	if id < 0 {
		return nil, ErrStackLost
	}
	var frames [64]uint64
	if err := t.maps.BlockedStackTraces.Lookup(uint32(id), &frames); err != nil {
		return nil, fmt.Errorf("stack %d: %w: %w", id, ErrStackLost, err)
	}
	n := 0
	for n < len(frames) && frames[n] != 0 {
		n++
	}
	return frames[:n], nil
}
