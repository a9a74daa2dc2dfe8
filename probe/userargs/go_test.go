package userargs

import (
	"path/filepath"
	"strings"
	"testing"
)

// goFunctions are testdata/goworkload's functions, placed by Go's register ABI
// (src/cmd/compile/abi-internal.md). Index 0 is amd64 (RAX, RBX, RCX, RDI, RSI, R8–R11), 1 is
// arm64 (R0–R15).
var goFunctions = []placedFunction{
	{"main.handle", []expected{{"n", "int", Signed, ""}, {"ok", "bool", Bool, ""}, {"name", "string", GoString, ""}, {"req", "*main.request", Pointer, ""}},
		[2][]string{{"ax", "bx", "cx,di", "si"}, {"x0", "x1", "x2,x3", "x4"}}},
	// amd64 runs out of integer registers at a10: a10–a15, s and t go to the stack in order. On
	// arm64 s needs two registers when one is left, so s goes to the stack and t takes R15.
	{"main.spill", []expected{{"a1", "int", Signed, ""}, {"a2", "int", Signed, ""}, {"a3", "int", Signed, ""}, {"a4", "int", Signed, ""}, {"a5", "int", Signed, ""}, {"a6", "int", Signed, ""}, {"a7", "int", Signed, ""}, {"a8", "int", Signed, ""}, {"a9", "int", Signed, ""},
		{"a10", "int", Signed, ""}, {"a11", "int", Signed, ""}, {"a12", "int", Signed, ""}, {"a13", "int", Signed, ""}, {"a14", "int", Signed, ""}, {"a15", "int", Signed, ""}, {"s", "string", GoString, ""}, {"t", "int", Signed, ""}},
		[2][]string{
			{"ax", "bx", "cx", "di", "si", "r8", "r9", "r10", "r11", "sp+8", "sp+16", "sp+24", "sp+32", "sp+40", "sp+48", "sp+56,sp+64", "sp+72"},
			{"x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "sp+8,sp+16", "x15"}}},
	// A method's receiver comes first.
	{"main.(*request).describe", []expected{{"r", "*main.request", Pointer, ""}, {"prefix", "string", GoString, ""}, {"depth", "int8", Signed, ""}, {"flag", "bool", Bool, ""}, {"u", "uint16", Unsigned, ""}},
		[2][]string{{"ax", "bx,cx", "di", "si", "r8"}, {"x0", "x1,x2", "x3", "x4", "x5"}}},
	// Floats take floating-point registers only; a struct takes one integer register per field;
	// an array of two goes to the stack.
	{"main.mixed", []expected{{"x", "float64", Unsupported, ""}, {"n", "int", Signed, ""}, {"y", "float32", Unsupported, ""}, {"s", "string", GoString, ""}, {"p", "main.point", Unsupported, ""}, {"a", "[2]int", Unsupported, ""}, {"last", "uint32", Unsigned, ""}},
		[2][]string{{"", "ax", "", "bx,cx", "", "", "r8"}, {"", "x0", "", "x1,x2", "", "", "x5"}}},
	// A slice takes three registers, an interface two, a map one.
	{"main.kinds", []expected{{"b", "[]uint8", Unsupported, ""}, {"err", "error", Unsupported, ""}, {"m", "map[string]int", Unsupported, ""}, {"p", "*int", Unsupported, ""}, {"n", "int", Signed, ""}},
		[2][]string{{"", "", "", "", "r10"}, {"", "", "", "", "x7"}}},
	{"main.ignore", []expected{{"~p0", "int", Unsupported, ""}, {"unused", "string", GoString, ""}, {"n", "int", Signed, ""}},
		[2][]string{{"", "bx,cx", "di"}, {"", "x1,x2", "x3"}}},
	// The dictionary of a generic instantiation comes first, in a register that DWARF does not
	// list; a method's comes after its receiver.
	{"main.pick[go.shape.string]", []expected{{"x", "go.shape.string", GoString, ""}, {"n", "int", Signed, ""}},
		[2][]string{{"bx,cx", "di"}, {"x1,x2", "x3"}}},
	{"main.pick[go.shape.int]", []expected{{"x", "go.shape.int", Signed, ""}, {"n", "int", Signed, ""}},
		[2][]string{{"bx", "cx"}, {"x1", "x2"}}},
	{"main.wrap[go.shape.int].func1", []expected{{"a", "int", Signed, ""}, {"s", "string", GoString, ""}},
		[2][]string{{"ax", "bx,cx"}, {"x0", "x1,x2"}}},
	{"main.(*stack[go.shape.string]).push", []expected{{"s", "*main.stack[go.shape.string]", Pointer, ""}, {"v", "go.shape.string", GoString, ""}, {"n", "int", Signed, ""}},
		[2][]string{{"ax", "cx,di", "si"}, {"x0", "x2,x3", "x4"}}},
}

// buildGo builds the Go workload for an architecture, with extra flags.
func buildGo(t testing.TB, goarch string, flags ...string) string {
	t.Helper()
	args := append(append([]string{"build", "-o", "out"}, flags...), filepath.Join("testdata", "goworkload", "main.go"))
	return build(t, []string{"GOARCH=" + goarch, "GOOS=linux", "CGO_ENABLED=0"}, "go", args...)
}

// goDWARFWrong lists the arguments whose DWARF location Go 1.26 gets wrong at entry. A string
// assigned to the stack is described by the address of its second word (its length): for
// main.spill's s, amd64 DWARF says CFA+56 (sp+64), but the caller stores the pointer at its 0x30(SP)
// and the length at 0x38(SP), which are sp+56 and sp+64 at the callee's entry, and the callee
// loads them from there; arm64 likewise (STP (R16, R17), 8(RSP) in the caller).
var goDWARFWrong = []string{"main.spill s"}

func TestGoFunctionArguments(t *testing.T) {
	for archIndex, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			binary := buildGo(t, goarch)
			checkFunctions(t, binary, goarch, "Go", archIndex, goFunctions, goDWARFWrong...)
		})
	}
}

func TestGoWithoutDWARF(t *testing.T) {
	binary := buildGo(t, "amd64", "-ldflags=-w")
	_, err := Lookup(binary, "main.handle")
	if err == nil || !strings.Contains(err.Error(), "Go binary without DWARF (built with -ldflags=-w, or stripped); rebuild it without -w") {
		t.Errorf("Lookup in a Go binary built with -w: %v", err)
	}
}

// TestGoUnsupportedReasons checks that each argument that is not read says why.
func TestGoUnsupportedReasons(t *testing.T) {
	function, err := Lookup(buildGo(t, "amd64"), "main.kinds")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"[]uint8 is a slice: not read", "error is an interface: not read", "map[string]int is a map: not read", "*int is a pointer", ""}
	for i, argument := range function.Arguments {
		if !strings.HasPrefix(argument.Unsupported, want[i]) || (want[i] == "") != (argument.Unsupported == "") {
			t.Errorf("%s: %q; want %q", argument.Name, argument.Unsupported, want[i])
		}
	}
}
