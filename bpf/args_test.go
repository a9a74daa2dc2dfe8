package bpf

import (
	"errors"
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/probe"
)

// A plan of no arguments must not flag the probe: the kernel would reserve an args tail that no
// argument slot sizes, and leave its header unwritten.
func TestPlanWithoutArgumentsCapturesNone(t *testing.T) {
	one := &argspec.Plan{Args: []argspec.Arg{{Name: "fd"}}}
	for _, c := range []struct {
		plan  *argspec.Plan
		args  uint8
		slots uint32
	}{
		{nil, 0, 0},
		{&argspec.Plan{}, 0, 0},
		{one, 1, 1},
	} {
		p := Probe{Args: c.plan}
		if got := probeConfig(p).Args; got != c.args {
			t.Errorf("plan %+v: probe_config.args %d, want %d", c.plan, got, c.args)
		}
		if got := newArgLayout([]Probe{p}, argspec.DefaultStrMax).slots; got != c.slots {
			t.Errorf("plan %+v: %d argument slots, want %d", c.plan, got, c.slots)
		}
	}
}

// argspec compiles the plans and decodes the tails, and cannot import this package: its copies
// of kretspan.h's limits, enums and layout are checked here against the generated types.
func TestArgspecMatchesTheKernelTypes(t *testing.T) {
	var plan kretspanArgPlan
	if argspec.MaxArgs != len(plan.Args) || argspec.MaxHops != len(plan.Args[0].Hops) {
		t.Errorf("argspec: MaxArgs %d, MaxHops %d; struct arg_plan: %d, %d", argspec.MaxArgs, argspec.MaxHops, len(plan.Args), len(plan.Args[0].Hops))
	}
	for _, c := range []struct {
		name        string
		got, kernel uint32
	}{
		{"SourceParameter", uint32(argspec.SourceParameter), uint32(kretspanArgSourceARG_SOURCE_PARAMETER)},
		{"SourceRegsOffset", uint32(argspec.SourceRegsOffset), uint32(kretspanArgSourceARG_SOURCE_REGS_OFFSET)},
		{"SourceStack", uint32(argspec.SourceStack), uint32(kretspanArgSourceARG_SOURCE_STACK)},
		{"ReadInteger", uint32(argspec.ReadInteger), uint32(kretspanArgReadARG_READ_INTEGER)},
		{"ReadStringUser", uint32(argspec.ReadStringUser), uint32(kretspanArgReadARG_READ_STRING_USER)},
		{"ReadStringKernel", uint32(argspec.ReadStringKernel), uint32(kretspanArgReadARG_READ_STRING_KERNEL)},
		{"ReadStringAny", uint32(argspec.ReadStringAny), uint32(kretspanArgReadARG_READ_STRING_ANY)},
		{"ReadFDPath", uint32(argspec.ReadFDPath), uint32(kretspanArgReadARG_READ_FD_PATH)},
		{"ReadFilePath", uint32(argspec.ReadFilePath), uint32(kretspanArgReadARG_READ_FILE_PATH)},
		{"ReadPathPath", uint32(argspec.ReadPathPath), uint32(kretspanArgReadARG_READ_PATH_PATH)},
		{"ReadDentryPath", uint32(argspec.ReadDentryPath), uint32(kretspanArgReadARG_READ_DENTRY_PATH)},
		{"ReadGoString", uint32(argspec.ReadGoString), uint32(kretspanArgReadARG_READ_GO_STRING)},
		{"StatusOK", uint32(argspec.StatusOK), uint32(kretspanArgStatusARG_STATUS_OK)},
		{"StatusTruncated", uint32(argspec.StatusTruncated), uint32(kretspanArgStatusARG_STATUS_TRUNCATED)},
		{"StatusReadFailed", uint32(argspec.StatusReadFailed), uint32(kretspanArgStatusARG_STATUS_READ_FAILED)},
		{"FilePath", uint32(argspec.FilePath), uint32(kretspanArgFileKindARG_FILE_PATH)},
		{"FileSocket", uint32(argspec.FileSocket), uint32(kretspanArgFileKindARG_FILE_SOCKET)},
		{"FilePipe", uint32(argspec.FilePipe), uint32(kretspanArgFileKindARG_FILE_PIPE)},
		{"FileAnonymous", uint32(argspec.FileAnonymous), uint32(kretspanArgFileKindARG_FILE_ANONYMOUS)},
	} {
		if c.got != c.kernel {
			t.Errorf("argspec.%s = %d, the kernel's is %d", c.name, c.got, c.kernel)
		}
	}

	// The layout: a tail written through the generated types decodes to what was written.
	const stride = argValueSize + 8
	raw := make([]uint64, (argValuesHeaderSize+2*stride)/8)
	tail := unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), len(raw)*8)
	*(*kretspanArgValuesHeader)(unsafe.Pointer(&tail[0])) = kretspanArgValuesHeader{Size: uint16(len(tail)), Stride: uint16(stride), Count: 2}
	want := []argspec.Value{
		{Status: argspec.StatusTruncated, FileKind: argspec.FileSocket, Number: 0x1122334455667788, Bytes: []byte("ab")},
		{Status: argspec.StatusReadFailed, FileKind: argspec.FileAnonymous, Number: 7, Bytes: []byte{}},
	}
	for i, w := range want {
		slot := tail[argValuesHeaderSize+i*stride:]
		*(*kretspanArgValue)(unsafe.Pointer(&slot[0])) = kretspanArgValue{Status: uint8(w.Status), FileKind: uint8(w.FileKind), Length: uint16(len(w.Bytes)), Number: w.Number}
		copy(slot[argValueSize:], w.Bytes)
	}
	got, err := argspec.DecodeValues(nil, tail)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

// missedInner panics: its RET instruction, where a Go function's return probe stands, never
// runs, so its return is missed, and found missed when missedOuter, which recovers, returns.
//
//go:noinline
func missedInner(n int) int {
	if n >= 0 {
		panic(n)
	}
	return n
}

//go:noinline
func missedOuter(n int) (r int) {
	defer func() { r, _ = recover().(int) }()
	return missedInner(n)
}

// A frame whose return was missed frees the arguments kept for it: none stay in arg_frames once
// every call has ended.
func TestKernelMissedReturnsFreeTheirArguments(t *testing.T) {
	requireRoot(t)
	if err := DetectFeatures().Uprobes; err != nil {
		t.Skipf("uprobes: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const calls = 5
	plan := &argspec.Plan{Args: []argspec.Arg{{Name: "n", Source: argspec.SourceParameter, Read: argspec.ReadInteger}}}
	var probes []Probe
	for _, f := range []string{"missedOuter", "missedInner"} {
		spec, err := probe.Parse("uprobe:" + self + ":github.com/kretspan/kretspan/bpf." + f)
		if err != nil {
			t.Fatal(err)
		}
		targets, _, err := probe.Resolve([]probe.Spec{spec}, DetectFeatures().Kernel(), 10)
		if errors.Is(err, probe.ErrNotFound) {
			t.Skipf("%v: go test links the binary it runs without a symbol table (-s -w); go test -c keeps it", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		targets[0].ID = uint32(len(probes) + 1)
		probes = append(probes, Probe{Target: targets[0], Args: plan})
	}
	cfg := thisProcess()
	cfg.ArgStringMax = argspec.DefaultStrMax
	tracer, err := Start(cfg, probes)
	if err != nil {
		t.Fatal(err)
	}
	defer tracer.Close()
	go func() {
		runtime.LockOSThread() // the nest on one thread, as the stacks are per thread
		for i := range calls {
			missedOuter(i)
		}
		runtime.UnlockOSThread()
		time.Sleep(50 * time.Millisecond)
		tracer.Stop()
	}()
	events := 0
	if err := tracer.Read(func(*Event) { events++ }, func() {}); err != nil {
		t.Fatal(err)
	}
	counts, err := tracer.Counts()
	if err != nil {
		t.Fatal(err)
	}
	outer, inner := counts[probes[0].ID], counts[probes[1].ID]
	if events != calls || outer.Counts[CounterSubmitted] != calls || inner.Counts[CounterMissedReturn] != calls {
		t.Fatalf("%d calls: %d events, outer %d submitted, inner %d missed returns; want %d each",
			calls, events, outer.Counts[CounterSubmitted], inner.Counts[CounterMissedReturn], calls)
	}
	var key uint64
	var value []byte
	for it := tracer.maps.ArgFrames.Iterate(); it.Next(&key, &value); {
		t.Errorf("every call ended, and arg_frames keeps thread %d's frame %d", key>>32, uint32(key))
	}
}
