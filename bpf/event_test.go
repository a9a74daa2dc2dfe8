package bpf

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// cEventLayout is struct event in kretspan.h: field, offset, size.
var cEventLayout = []struct {
	c, goName    string
	offset, size uintptr
}{
	{"trace_id", "TraceId", 0, 16},
	{"span_id", "SpanId", 16, 8},
	{"parent_span_id", "ParentSpanId", 24, 8},
	{"start_ns", "StartNs", 32, 8},
	{"end_ns", "EndNs", 40, 8},
	{"ret", "Ret", 48, 8},
	{"pid", "Pid", 56, 4},
	{"tid", "Tid", 60, 4},
	{"probe_id", "ProbeId", 64, 4},
	{"cpu", "Cpu", 68, 4},
	{"comm", "Comm", 72, 16},
}

// minEventSize is the size of the fields above: 16 + 5*8 + 4*4 + 16 bytes.
const minEventSize = 88

func TestEventLayoutMatchesHeader(t *testing.T) {
	if EventSize < minEventSize || EventSize%8 != 0 {
		t.Errorf("EventSize = %d, want a multiple of 8 of at least %d", EventSize, minEventSize)
	}
	if uintptr(EventSize) != unsafe.Sizeof(Event{}) {
		t.Errorf("EventSize %d != unsafe.Sizeof(Event{}) %d", EventSize, unsafe.Sizeof(Event{}))
	}
	if unsafe.Alignof(Event{}) != 8 {
		t.Errorf("Event alignment %d, want 8", unsafe.Alignof(Event{}))
	}
	typ := reflect.TypeOf(Event{})
	for _, f := range cEventLayout {
		field, ok := typ.FieldByName(f.goName)
		if !ok {
			t.Errorf("Event has no field %s", f.goName)
			continue
		}
		if field.Offset != f.offset || field.Type.Size() != f.size {
			t.Errorf("Event.%s at %d size %d, want %d size %d", f.goName, field.Offset, field.Type.Size(), f.offset, f.size)
		}
	}
}

// cFieldName is the C name bpf2go made a Go field name from: TraceId → trace_id, Pad → _pad.
func cFieldName(goName string) string {
	if goName == "Pad" {
		return "_pad"
	}
	var b strings.Builder
	for i, r := range goName {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestEventLayoutMatchesCompiler compiles kretspan.h with the host C compiler and compares
// sizeof and offsetof with the Go struct, so an edit to the header without regenerating fails.
func TestEventLayoutMatchesCompiler(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler (cc)")
	}
	dir := t.TempDir()
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <linux/types.h>\n#include \"kretspan.h\"\nint main(void) {\n")
	src.WriteString("\tprintf(\"size %zu\\n\", sizeof(struct event));\n")
	src.WriteString("\tprintf(\"counters %zu\\n\", sizeof(struct probe_counters));\n")
	// Every field of the Go struct, so that fields added later are checked too.
	typ := reflect.TypeOf(Event{})
	for i := range typ.NumField() {
		if name := typ.Field(i).Name; name != "_" {
			c := cFieldName(name)
			src.WriteString("\tprintf(\"" + c + " %zu\\n\", offsetof(struct event, " + c + "));\n")
		}
	}
	src.WriteString("\treturn 0;\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "layout.c"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "layout")
	if out, err := exec.Command("cc", "-I", wd, "-o", bin, filepath.Join(dir, "layout.c")).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "linux/types.h") {
			t.Skipf("no kernel headers: %s", out)
		}
		t.Fatalf("cc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]uintptr{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, value, _ := strings.Cut(line, " ")
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		c[name] = uintptr(n)
	}
	if c["size"] != uintptr(EventSize) {
		t.Errorf("sizeof(struct event) = %d, Go EventSize = %d", c["size"], EventSize)
	}
	if c["counters"] != unsafe.Sizeof(ProbeCounts{}) {
		t.Errorf("sizeof(struct probe_counters) = %d, Go %d", c["counters"], unsafe.Sizeof(ProbeCounts{}))
	}
	for i := range typ.NumField() {
		field := typ.Field(i)
		if field.Name == "_" {
			continue
		}
		if name := cFieldName(field.Name); c[name] != field.Offset {
			t.Errorf("offsetof(struct event, %s) = %d, Go offset of %s = %d", name, c[name], field.Name, field.Offset)
		}
	}
	for _, f := range cEventLayout {
		if c[f.c] != f.offset {
			t.Errorf("offsetof(struct event, %s) = %d, the layout userspace decodes expects %d", f.c, c[f.c], f.offset)
		}
	}
}

// alignedBuffer returns n bytes starting at an 8-byte boundary.
func alignedBuffer(n int) []byte {
	words := make([]uint64, (n+7)/8+1)
	return unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)[:n]
}

// encodeEvent lays out e as the BPF side writes it (little-endian x86-64), by hand.
func encodeEvent(buf []byte, e *Event) {
	le := binary.LittleEndian
	copy(buf[0:16], e.TraceId[:])
	le.PutUint64(buf[16:], e.SpanId)
	le.PutUint64(buf[24:], e.ParentSpanId)
	le.PutUint64(buf[32:], e.StartNs)
	le.PutUint64(buf[40:], e.EndNs)
	le.PutUint64(buf[48:], uint64(e.Ret))
	le.PutUint32(buf[56:], e.Pid)
	le.PutUint32(buf[60:], e.Tid)
	le.PutUint32(buf[64:], e.ProbeId)
	le.PutUint32(buf[68:], e.Cpu)
	copy(buf[72:88], e.Comm[:])
}

func sampleEvent() Event {
	e := Event{
		SpanId:       0x0102030405060708,
		ParentSpanId: 0xfffefdfcfbfaf9f8,
		StartNs:      1_000_000_123,
		EndNs:        1_000_450_999,
		Ret:          -2,
		Pid:          4242,
		Tid:          4243,
		ProbeId:      7,
		Cpu:          3,
	}
	for i := range e.TraceId {
		e.TraceId[i] = byte(0xa0 + i)
	}
	copy(e.Comm[:], "cat")
	return e
}

func TestDecodeEventRoundTrip(t *testing.T) {
	want := sampleEvent()
	buf := alignedBuffer(EventSize)
	encodeEvent(buf, &want)
	got, err := DecodeEvent(buf)
	if err != nil {
		t.Fatal(err)
	}
	if *got != want {
		t.Errorf("decoded %+v, want %+v", *got, want)
	}
	// The Event aliases the record: no copy.
	if unsafe.Pointer(got) != unsafe.Pointer(&buf[0]) {
		t.Error("DecodeEvent copied the record")
	}
	buf[56] = 0x99
	if got.Pid&0xff != 0x99 {
		t.Error("Event does not alias the record")
	}

	// encoding/binary agrees with the hand layout.
	var viaBinary strings.Builder
	if err := binary.Write(&viaBinary, binary.LittleEndian, &want); err != nil {
		t.Fatal(err)
	}
	manual := alignedBuffer(EventSize)
	encodeEvent(manual, &want)
	if viaBinary.String() != string(manual) {
		t.Errorf("binary.Write layout differs from the C layout:\n%x\n%x", viaBinary.String(), manual)
	}

	// A longer record (padding) decodes too.
	long := alignedBuffer(EventSize + 8)
	encodeEvent(long, &want)
	if got, err := DecodeEvent(long); err != nil || *got != want {
		t.Errorf("longer record: %+v, %v", got, err)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for _, n := range []int{0, 1, 8, EventSize - 1} {
		buf := alignedBuffer(EventSize)[:n]
		if e, err := DecodeEvent(buf); err == nil || e != nil {
			t.Errorf("DecodeEvent of %d bytes = %v, %v; want an error", n, e, err)
		} else if !strings.Contains(err.Error(), strconv.Itoa(n)+" bytes") {
			t.Errorf("error %q does not give the size", err)
		}
	}
	if _, err := DecodeEvent(nil); err == nil {
		t.Error("DecodeEvent(nil) succeeded")
	}
	unaligned := alignedBuffer(EventSize + 8)[1 : EventSize+1]
	if e, err := DecodeEvent(unaligned); err == nil || e != nil {
		t.Errorf("unaligned record decoded: %v, %v", e, err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := sampleEvent()
	seed := alignedBuffer(EventSize)
	encodeEvent(seed, &e)
	f.Add(seed)
	f.Add([]byte{})
	f.Add(make([]byte, EventSize-1))
	f.Add(make([]byte, EventSize+3))
	f.Fuzz(func(t *testing.T, raw []byte) {
		event, err := DecodeEvent(raw)
		if err != nil {
			if event != nil {
				t.Fatal("event returned with an error")
			}
			// A record with no tails has only its length and alignment to be wrong.
			if len(raw) >= EventSize && uintptr(unsafe.Pointer(&raw[0]))%8 == 0 && binary.LittleEndian.Uint32(raw[unsafe.Offsetof(Event{}.Flags):])&(EventSched|EventArgs) == 0 {
				t.Fatalf("aligned record of %d bytes without tails rejected: %v", len(raw), err)
			}
			return
		}
		if len(raw) < recordSize(event.Flags) {
			t.Fatalf("record of %d bytes accepted, flags %#x", len(raw), event.Flags)
		}
		le := binary.LittleEndian
		if event.SpanId != le.Uint64(raw[16:]) || event.Ret != int64(le.Uint64(raw[48:])) ||
			event.Pid != le.Uint32(raw[56:]) || event.Cpu != le.Uint32(raw[68:]) || string(event.Comm[:]) != string(raw[72:88]) {
			t.Fatalf("decoded %+v from %x", *event, raw[:EventSize])
		}
	})
}
