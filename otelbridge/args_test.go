package otelbridge

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

// recordWithArgs lays out a ring-buffer record as the kernel does: the fixed event, then the args
// tail of these values (each in a slot of stride bytes), and decodes it as the tracer does.
func recordWithArgs(t *testing.T, stride int, values ...argspec.Value) *bpf.Event {
	t.Helper()
	tail := make([]byte, 8+len(values)*stride)
	binary.LittleEndian.PutUint16(tail[0:], uint16(len(tail)))
	binary.LittleEndian.PutUint16(tail[2:], uint16(stride))
	binary.LittleEndian.PutUint16(tail[4:], uint16(len(values)))
	for i, v := range values {
		slot := tail[8+i*stride:]
		slot[0], slot[1] = byte(v.Status), byte(v.FileKind)
		binary.LittleEndian.PutUint16(slot[2:], uint16(len(v.Bytes)))
		binary.LittleEndian.PutUint64(slot[8:], v.Number)
		copy(slot[16:], v.Bytes)
	}
	words := make([]uint64, (bpf.EventSize+len(tail)+7)/8) // 8-byte aligned, as the ring's records are
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)[:bpf.EventSize+len(tail)]
	event := bpf.Event{StartNs: 1000, EndNs: 2000, Ret: -13, ProbeId: 1, Flags: bpf.EventArgs}
	copy(raw, unsafe.Slice((*byte)(unsafe.Pointer(&event)), bpf.EventSize))
	copy(raw[bpf.EventSize:], tail)
	decoded, err := bpf.DecodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return decoded
}

func TestArgumentAttributes(t *testing.T) {
	plan := &argspec.Plan{Args: []argspec.Arg{
		{Name: "dfd", Key: "kretspan.arg.dfd", Size: 4, Show: argspec.ShowSigned},
		{Name: "filename", Key: "kretspan.arg.filename", Read: argspec.ReadStringUser},
		{Name: "fd.path", Key: argspec.FilePathKey, Read: argspec.ReadFDPath},
		{Name: "how", Key: "kretspan.arg.how", Read: argspec.ReadStringUser},
		{Name: "sync", Key: "kretspan.arg.sync", Size: 1, Show: argspec.ShowBool},
		{Name: "mode", Key: "kretspan.arg.mode", Size: 4, Show: argspec.ShowEnum, Enum: map[uint64]string{2: "MODE_TWO"}},
	}}
	info := NewProbeInfo(probe.Target{Kind: probe.KindSyscall, Name: "openat", ReturnsErrno: true}, nil)
	info.WithArgs(plan)
	event := recordWithArgs(t, 48,
		argspec.Value{Number: 0xffffffffffffff9c},
		argspec.Value{Status: argspec.StatusTruncated, Bytes: []byte("/etc/shad")},
		argspec.Value{FileKind: argspec.FilePipe, Number: 777},
		argspec.Value{Status: argspec.StatusReadFailed, Number: uint64(1<<64 - 14)}, // -EFAULT
		argspec.Value{Number: 0x100},                                                // bool of 1 byte: the upper bytes are not its own
		argspec.Value{Number: 2},
	)
	span := buildSpan(t, event, &info, fixedClock(0), "cat")
	got := attrs(span)
	for key, want := range map[string]any{
		"kretspan.arg.dfd":                int64(-100),
		"kretspan.arg.filename":           "/etc/shad",
		"kretspan.arg.filename.truncated": true,
		argspec.FilePathKey:               "pipe:[777]",
		"kretspan.arg.how.error":          "read failed: EFAULT",
		"kretspan.arg.sync":               false,
		"kretspan.arg.mode":               "MODE_TWO",
	} {
		if got[key] != want {
			t.Errorf("%s = %#v, want %#v", key, got[key], want)
		}
	}
	if _, ok := got["kretspan.arg.how"]; ok {
		t.Errorf("a failed read has a value: %v", got["kretspan.arg.how"])
	}
}

func TestNoArgumentsNoAttributes(t *testing.T) {
	info := NewProbeInfo(probe.Target{Kind: probe.KindSyscall, Name: "openat"}, nil)
	info.WithArgs(nil)
	event := &bpf.Event{StartNs: 1, EndNs: 2, ProbeId: 1}
	span := buildSpan(t, event, &info, fixedClock(0), "cat")
	for _, kv := range span.Attributes {
		if len(kv.Key) > len(argspec.AttributePrefix) && kv.Key[:len(argspec.AttributePrefix)] == argspec.AttributePrefix {
			t.Errorf("attribute %s on a probe without arguments", kv.Key)
		}
	}
}
