package bpf

import (
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/kretspan/kretspan/argspec"
)

// EventArgs flags a record that ends with the call's arguments (enum event_flag).
const EventArgs = uint32(kretspanEventFlagEVENT_ARGS)

// The args tail's parts (kretspan.h): a struct arg_values_header, then a struct arg_value at the
// start of each slot.
const (
	argValuesHeaderSize = int(unsafe.Sizeof(kretspanArgValuesHeader{}))
	argValueSize        = int(unsafe.Sizeof(kretspanArgValue{}))
)

// argLayout is how captured values lie in a record's args tail, the same for every probe of a
// run: the most arguments any probe captures, each in a slot of stride bytes.
type argLayout struct {
	slots, stride, stringMax uint32
}

// newArgLayout sizes the slots for the plans: each holds struct arg_value and a string of
// stringMax bytes and the two more the kernel reads to tell a truncated one (rounded to 8).
func newArgLayout(probes []Probe, stringMax int) argLayout {
	var l argLayout
	for _, p := range probes {
		if p.capturesArgs() {
			l.slots = max(l.slots, uint32(len(p.Args.Args)))
		}
	}
	if l.slots == 0 {
		return argLayout{}
	}
	l.stringMax = uint32(stringMax)
	l.stride = uint32(argValueSize) + (l.stringMax+2+7)&^7
	return l
}

func (l argLayout) valueSize() uint32 { return uint32(argValuesHeaderSize) + l.slots*l.stride }

// configureArgs sizes the argument maps for the plans, and shrinks them to one small entry when
// no probe has arguments: the programs' argument code is then dead, and the verifier drops it.
func configureArgs(s *kretspanSpecs, cfg Config, probes []Probe) error {
	l := newArgLayout(probes, cfg.ArgStringMax)
	if l.slots == 0 {
		small := s.PathScratch
		small.Value, small.ValueSize = nil, 8
		return nil
	}
	if err := argspec.CheckStringMax(cfg.ArgStringMax); err != nil {
		return fmt.Errorf("argument string limit %d: %w", cfg.ArgStringMax, err)
	}
	size := l.valueSize()
	s.ArgPlans.MaxEntries = uint32(len(probes) + 1)
	// A frame of each thread in flight at most.
	s.ArgFrames.ValueSize = size
	s.ArgFrames.MaxEntries = inflightThreads(cfg.MaxInflight) * uint32(len(kretspanCallStack{}.Frames))
	s.ArgScratch.ValueSize = size
	for _, v := range []struct {
		spec  *ebpf.VariableSpec
		value uint32
	}{
		{s.ArgSlots, l.slots},
		{s.ArgStride, l.stride},
		{s.ArgStringMax, l.stringMax},
		{s.ArgsValueSize, size},
	} {
		if err := v.spec.Set(v.value); err != nil {
			return fmt.Errorf("set %s: %w", v.spec.Name, err)
		}
	}
	return nil
}

// argPlan is a plan as the kernel follows it (struct arg_plan). argspec has checked that it has
// one path argument at most.
func argPlan(plan *argspec.Plan) (kretspanArgPlan, error) {
	var k kretspanArgPlan
	if len(plan.Args) > len(k.Args) {
		return k, fmt.Errorf("%d arguments, at most %d", len(plan.Args), len(k.Args))
	}
	k.Count = uint32(len(plan.Args))
	k.PathIndex = uint32(len(k.Args))
	for i, a := range plan.Args {
		if a.Read.IsPath() {
			k.PathIndex = uint32(i)
		}
		s := &k.Args[i]
		if len(a.Hops) > len(s.Hops) {
			return k, fmt.Errorf("argument %s follows %d pointers, at most %d", a.Name, len(a.Hops), len(s.Hops))
		}
		s.Source, s.Index, s.Read, s.Size = uint8(a.Source), a.Index, uint8(a.Read), a.Size
		s.HopCount, s.Field, s.UserMemory = uint8(len(a.Hops)), boolByte(a.Field), boolByte(a.UserMemory)
		s.Offset, s.FieldOffset, s.LengthOffset = a.Offset, a.FieldOffset, a.LengthOffset
		copy(s.Hops[:], a.Hops)
	}
	return k, nil
}

// ArgsTail returns the args tail of a record decoded by DecodeEvent (nil when it has none): it
// lies in the same record, after the fixed part.
func ArgsTail(e *Event) []byte {
	if e.Flags&EventArgs == 0 {
		return nil
	}
	start := unsafe.Add(unsafe.Pointer(e), recordSize(e.Flags))
	size := *(*uint16)(start)
	return unsafe.Slice((*byte)(start), size)
}

// checkArgsTail checks that a record flagged with arguments holds the whole tail its header
// announces, so that ArgsTail stays within it.
func checkArgsTail(raw []byte, flags uint32) error {
	if flags&EventArgs == 0 {
		return nil
	}
	tail := raw[recordSize(flags):]
	if len(tail) < argValuesHeaderSize {
		return fmt.Errorf("ring-buffer record of %d bytes has no room for its arguments", len(raw))
	}
	if size := int(*(*uint16)(unsafe.Pointer(&tail[0]))); size < argValuesHeaderSize || size > len(tail) {
		return fmt.Errorf("ring-buffer record's arguments of %d bytes in %d", size, len(tail))
	}
	return nil
}
