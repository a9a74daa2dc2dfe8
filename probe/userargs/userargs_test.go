package userargs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expected is one argument as the ABI documents place it, written out by hand: where is
// locationNames' spelling ("di", "x3", "sp+8", "cx,di"), empty when the argument is not read.
type expected struct {
	name, typ string
	kind      Kind
	where     string
}

// cFunctions are testdata/workload.c's functions, placed by the System V amd64 ABI (section 3.2.3)
// and AAPCS64 (section 6.8.2). Index 0 is amd64, 1 is arm64.
var cFunctions = []struct {
	symbol    string
	arguments []expected
	where     [2][]string
}{
	{"handle", []expected{{"n", "int", Signed, ""}, {"tag", "const char *", CString, ""}, {"size", "long unsigned int", Unsigned, ""}, {"req", "struct request *", Pointer, ""}},
		[2][]string{{"di", "si", "dx", "cx"}, {"x0", "x1", "x2", "x3"}}},
	// p takes two integer registers; the double takes none of them.
	{"many", []expected{{"a", "int", Signed, ""}, {"b", "_Bool", Bool, ""}, {"c", "enum color", Enum, ""}, {"d", "double", Unsupported, ""}, {"p", "struct pair", Unsupported, ""},
		{"f", "long int", Signed, ""}, {"g", "long int", Signed, ""}, {"h", "short int", Signed, ""}, {"i", "unsigned char", Unsigned, ""}, {"j", "label_t", CString, ""}},
		[2][]string{{"di", "si", "dx", "", "", "r9", "sp+8", "sp+16", "sp+24", "sp+32"}, {"x0", "x1", "x2", "", "", "x5", "x6", "x7", "sp+0", "sp+8"}}},
	// A 32-byte return value: amd64 passes its address in rdi, arm64 in x8.
	{"make_big", []expected{{"a", "long int", Signed, ""}, {"b", "long int", Signed, ""}},
		[2][]string{{"si", "dx"}, {"x0", "x1"}}},
	// p4 needs two registers when one is left: it goes to the stack whole, and on arm64 no
	// register is used after it.
	{"spill", []expected{{"p1", "struct pair", Unsupported, ""}, {"p2", "struct pair", Unsupported, ""}, {"p3", "struct pair", Unsupported, ""}, {"x", "long int", Signed, ""}, {"p4", "struct pair", Unsupported, ""}, {"y", "long int", Signed, ""}},
		[2][]string{{"", "", "", "sp+8", "", "sp+32"}, {"", "", "", "x6", "", "sp+16"}}},
	// An __int128 takes two registers, an even-numbered pair on arm64.
	{"wide", []expected{{"a", "long int", Signed, ""}, {"big", "__int128", Unsupported, ""}, {"after", "long int", Signed, ""}},
		[2][]string{{"di", "", "cx"}, {"x0", "", "x4"}}},
	// A 32-byte struct: on amd64's stack; on arm64 a pointer to a copy, in x0.
	{"large_struct", []expected{{"b", "struct big", Unsupported, ""}, {"after", "long int", Signed, ""}},
		[2][]string{{"", "di"}, {"", "x1"}}},
	// Nine doubles: the ninth goes to the stack before the seventh long.
	{"mixed", []expected{{"d1", "double", Unsupported, ""}, {"d2", "double", Unsupported, ""}, {"d3", "double", Unsupported, ""}, {"d4", "double", Unsupported, ""}, {"d5", "double", Unsupported, ""}, {"d6", "double", Unsupported, ""}, {"d7", "double", Unsupported, ""}, {"d8", "double", Unsupported, ""}, {"d9", "double", Unsupported, ""},
		{"l1", "long int", Signed, ""}, {"l2", "long int", Signed, ""}, {"l3", "long int", Signed, ""}, {"l4", "long int", Signed, ""}, {"l5", "long int", Signed, ""}, {"l6", "long int", Signed, ""}, {"l7", "long int", Signed, ""}, {"last", "signed char", Signed, ""}},
		[2][]string{{"", "", "", "", "", "", "", "", "", "di", "si", "dx", "cx", "r8", "r9", "sp+16", "sp+24"}, {"", "", "", "", "", "", "", "", "", "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7"}}},
	{"small", []expected{{"u16", "short unsigned int", Unsigned, ""}, {"s8", "signed char", Signed, ""}, {"ok", "_Bool", Bool, ""}, {"c", "enum color", Enum, ""}, {"u64", "long long unsigned int", Unsigned, ""}, {"counter", "int *", Unsupported, ""}},
		[2][]string{{"di", "si", "dx", "cx", "r8", ""}, {"x0", "x1", "x2", "x3", "x4", ""}}},
}

var cxxFunctions = []struct {
	symbol    string
	arguments []expected
	where     [2][]string
}{
	{"_ZN4shop4Cart5totalEiPKcPNS_4ItemE", []expected{{"this", "class Cart * const", Pointer, ""}, {"count", "int", Signed, ""}, {"label", "const char *", CString, ""}, {"item", "struct Item *", Pointer, ""}},
		[2][]string{{"di", "si", "dx", "cx"}, {"x0", "x1", "x2", "x3"}}},
	// Tracked has a copy constructor: it is passed as a pointer to a copy.
	{"_ZN4shop4takeENS_7TrackedEi", []expected{{"tracked", "struct Tracked", Unsupported, ""}, {"after", "int", Signed, ""}},
		[2][]string{{"", "si"}, {"", "x1"}}},
	{"_ZN4shop6lookupEiPKc", []expected{{"key", "int", Signed, ""}, {"name", "const char *", CString, ""}},
		[2][]string{{"di", "si"}, {"x0", "x1"}}},
}

var compilers = [2]struct{ arch, cc, cxx string }{
	{"amd64", "gcc", "g++"},
	{"arm64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-g++"},
}

// buildC compiles a test workload, or skips when the compiler is not installed.
func buildC(t testing.TB, compiler, source, optimization string) string {
	t.Helper()
	if _, err := exec.LookPath(compiler); err != nil {
		t.Skipf("%s is not installed (Debian: gcc, g++, gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu): %v", compiler, err)
	}
	out := filepath.Join(t.TempDir(), "workload")
	cmd := exec.Command(compiler, "-g", optimization, "-Wall", "-Werror", "-o", out, filepath.Join("testdata", source))
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, output)
	}
	return out
}

// checkFunction compares Lookup's answer with the hand-placed table and with the compiler's own
// DWARF locations at entry, and returns how many arguments the compiler located. Arguments named
// in dwarfWrong ("symbol argument") are left out of the DWARF comparison.
func checkFunction(t *testing.T, binary, arch, language, symbol string, arguments []expected, where []string, dwarfWrong ...string) int {
	t.Helper()
	function, err := Lookup(binary, symbol)
	if err != nil {
		t.Fatal(err)
	}
	if function.Arch != arch || function.Language != language || function.Symbol != symbol {
		t.Errorf("%s: arch %s, language %s; want %s, %s", symbol, function.Arch, function.Language, arch, language)
	}
	if len(function.Arguments) != len(arguments) {
		t.Fatalf("%s: arguments %v; want %d of them", symbol, function.Arguments, len(arguments))
	}
	compiler := compilerEntryLocations(t, binary, symbol)
	located := 0
	for i, want := range arguments {
		got := function.Arguments[i]
		if got.Name != want.name || got.Type.Name != want.typ || got.Type.Kind != want.kind {
			t.Errorf("%s argument %d: %q (%s, %v); want %q (%s, %v)", symbol, i, got.Name, got.Type.Name, got.Type.Kind, want.name, want.typ, want.kind)
		}
		if (got.Type.Kind == Unsupported) != (got.Unsupported != "") {
			t.Errorf("%s %s: kind %v with reason %q", symbol, got.Name, got.Type.Kind, got.Unsupported)
		}
		placed := locationNames(arch, got.Parts)
		if placed != where[i] {
			t.Errorf("%s %s: at %q; the ABI puts it at %q", symbol, got.Name, placed, where[i])
		}
		if at, ok := compiler[got.Name]; ok && where[i] != "" && !slices.Contains(dwarfWrong, symbol+" "+got.Name) {
			located++
			if at != placed {
				t.Errorf("%s %s: at %q; the compiler's DWARF says %q at entry", symbol, got.Name, placed, at)
			}
		}
	}
	return located
}

func TestCFunctionArguments(t *testing.T) {
	for archIndex, c := range compilers {
		for _, optimization := range []string{"-O0", "-O2"} {
			t.Run(c.arch+optimization, func(t *testing.T) {
				binary := buildC(t, c.cc, "workload.c", optimization)
				located := 0
				for _, f := range cFunctions {
					located += checkFunction(t, binary, c.arch, "C", f.symbol, f.arguments, f.where[archIndex])
				}
				t.Logf("the compiler's DWARF located %d of the arguments at entry, and agreed", located)
				if located == 0 {
					t.Error("the compiler's DWARF located no argument at entry: nothing was cross-checked")
				}
			})
		}
	}
}

func TestCxxFunctionArguments(t *testing.T) {
	for archIndex, c := range compilers {
		for _, optimization := range []string{"-O0", "-O2"} {
			t.Run(c.arch+optimization, func(t *testing.T) {
				binary := buildC(t, c.cxx, "workload.cc", optimization)
				located := 0
				for _, f := range cxxFunctions {
					located += checkFunction(t, binary, c.arch, "C++", f.symbol, f.arguments, f.where[archIndex])
				}
				t.Logf("the compiler's DWARF located %d of the arguments at entry, and agreed", located)
			})
		}
	}
}

func TestMissingDebugInformation(t *testing.T) {
	binary := buildC(t, "gcc", "workload.c", "-O2")
	stripped := binary + ".stripped"
	if output, err := exec.Command("objcopy", "--strip-debug", binary, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, output)
	}
	if _, err := Lookup(stripped, "handle"); err == nil || !strings.Contains(err.Error(), "no DWARF debug information; build it with -g") {
		t.Errorf("Lookup in a binary without DWARF: %v", err)
	}
	if _, err := Lookup(binary, "nosuch"); err == nil || !strings.Contains(err.Error(), `no function symbol "nosuch"`) {
		t.Errorf("Lookup of a missing symbol: %v", err)
	}
	if _, err := Lookup(filepath.Join(t.TempDir(), "absent"), "handle"); err == nil {
		t.Error("Lookup in a missing file succeeded")
	}
	if _, err := os.Stat(binary); err != nil {
		t.Fatal(err)
	}
}
