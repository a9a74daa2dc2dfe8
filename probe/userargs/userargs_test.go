package userargs

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
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

// placedFunction is a function's arguments and where the ABI puts them: where[0] on amd64,
// where[1] on arm64.
type placedFunction struct {
	symbol    string
	arguments []expected
	where     [2][]string
}

// cFunctions are testdata/workload.c's functions, placed by the System V amd64 ABI (section 3.2.3)
// and AAPCS64 (section 6.8.2). Index 0 is amd64, 1 is arm64.
var cFunctions = []placedFunction{
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

var cxxFunctions = []placedFunction{
	{"_ZN4shop4Cart5totalEiPKcPNS_4ItemE", []expected{{"this", "class Cart * const", Pointer, ""}, {"count", "int", Signed, ""}, {"label", "const char *", CString, ""}, {"item", "struct Item *", Pointer, ""}},
		[2][]string{{"di", "si", "dx", "cx"}, {"x0", "x1", "x2", "x3"}}},
	{"_ZN4shop4Cart6totalsEi", []expected{{"this", "class Cart * const", Pointer, ""}, {"count", "int", Signed, ""}},
		[2][]string{{"si", "dx"}, {"x0", "x1"}}},
	{"_ZN4shop4makeEli", []expected{{"value", "long int", Signed, ""}, {"extra", "int", Signed, ""}},
		[2][]string{{"si", "dx"}, {"x0", "x1"}}},
	{"_ZN4shop5plainENS_5PlainEi", []expected{{"p", "struct Plain", Unsupported, ""}, {"after", "int", Signed, ""}},
		[2][]string{{"", "dx"}, {"", "x2"}}},
	// Tracked has a copy constructor: it is passed as a pointer to a copy.
	{"_ZN4shop4takeENS_7TrackedEi", []expected{{"tracked", "struct Tracked", Unsupported, ""}, {"after", "int", Signed, ""}},
		[2][]string{{"", "si"}, {"", "x1"}}},
	// With the integer registers taken, the reference to tracked's copy takes one stack slot.
	{"_ZN4shop13spill_trackedEllllllNS_7TrackedEll", []expected{{"a", "long int", Signed, ""}, {"b", "long int", Signed, ""}, {"c", "long int", Signed, ""}, {"d", "long int", Signed, ""}, {"e", "long int", Signed, ""}, {"f", "long int", Signed, ""}, {"tracked", "struct Tracked", Unsupported, ""}, {"i", "long int", Signed, ""}, {"j", "long int", Signed, ""}},
		[2][]string{{"di", "si", "dx", "cx", "r8", "r9", "", "sp+16", "sp+24"}, {"x0", "x1", "x2", "x3", "x4", "x5", "", "x7", "sp+0"}}},
	{"_ZN4shop6lookupEiPKc", []expected{{"key", "int", Signed, ""}, {"name", "const char *", CString, ""}},
		[2][]string{{"di", "si"}, {"x0", "x1"}}},
	// A reference is passed as a pointer.
	{"_ZN4shop5referERKNS_4ItemERli", []expected{{"item", "const struct Item &", Unsupported, ""}, {"total", "long int &", Unsupported, ""}, {"after", "int", Signed, ""}},
		[2][]string{{"", "", "dx"}, {"", "", "x2"}}},
}

var compilers = [2]struct{ arch, cc, cxx string }{
	{"amd64", "gcc", "g++"},
	{"arm64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-g++"},
}

// builds holds the workloads built so far, by their build command, in buildDirectory: each test
// binary builds each workload once.
var (
	builds         = map[string]string{}
	buildDirectory string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "userargs-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDirectory = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build runs a build command once, with the output path appended where out is, and returns the
// output's path.
func build(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	key := strings.Join(append(append(env, name), args...), " ")
	if out, ok := builds[key]; ok {
		return out
	}
	out := filepath.Join(buildDirectory, fmt.Sprintf("workload%d", len(builds)))
	for i, arg := range args {
		if arg == "out" {
			args[i] = out
		}
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, output)
	}
	builds[key] = out
	return out
}

// buildC compiles a test workload, or skips when the compiler is not installed.
func buildC(t testing.TB, compiler, source, optimization string) string {
	t.Helper()
	if _, err := exec.LookPath(compiler); err != nil {
		t.Skipf("%s is not installed (Debian: gcc, g++, gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu): %v", compiler, err)
	}
	return build(t, nil, compiler, "-g", optimization, "-Wall", "-Werror", "-o", "out", filepath.Join("testdata", source))
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

// checkFunctions checks each function, and that the compiler located at least three quarters of
// the arguments the table places, so that the cross-check cannot quietly check nothing.
func checkFunctions(t *testing.T, binary, arch, language string, archIndex int, functions []placedFunction, dwarfWrong ...string) {
	t.Helper()
	located, placed := 0, 0
	for _, f := range functions {
		located += checkFunction(t, binary, arch, language, f.symbol, f.arguments, f.where[archIndex], dwarfWrong...)
		for _, where := range f.where[archIndex] {
			if where != "" {
				placed++
			}
		}
	}
	t.Logf("the compiler located %d of the %d arguments read, and agreed", located, placed)
	if located*4 < placed*3 {
		t.Errorf("the compiler located only %d of the %d arguments read: too few were cross-checked", located, placed)
	}
}

func TestCAndCxxFunctionArguments(t *testing.T) {
	for _, workload := range []struct {
		source, language string
		functions        []placedFunction
	}{
		{"workload.c", "C", cFunctions},
		{"workload.cc", "C++", cxxFunctions},
	} {
		for archIndex, c := range compilers {
			compiler := map[string]string{"C": c.cc, "C++": c.cxx}[workload.language]
			for _, optimization := range []string{"-O0", "-O2"} {
				t.Run(workload.language+"/"+c.arch+optimization, func(t *testing.T) {
					binary := buildC(t, compiler, workload.source, optimization)
					checkFunctions(t, binary, c.arch, workload.language, archIndex, workload.functions)
				})
			}
		}
	}
}

// TestSeparateDebugFile finds the DWARF of a stripped binary in its debug file, installed under
// the build ID the way Debian's -dbgsym packages install them.
func TestSeparateDebugFile(t *testing.T) {
	binary := buildC(t, "gcc", "workload.c", "-O2")
	file, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	id := buildID(file)
	file.Close()
	if id == "" {
		t.Fatal("the workload has no build ID (gcc on Debian links with --build-id)")
	}
	root := t.TempDir()
	debugFile := filepath.Join(root, ".build-id", id[:2], id[2:]+".debug")
	stripped := filepath.Join(root, "stripped")
	if err := os.MkdirAll(filepath.Dir(debugFile), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--only-keep-debug", binary, debugFile}, {"--strip-debug", binary, stripped}} {
		if output, err := exec.Command("objcopy", args...).CombinedOutput(); err != nil {
			t.Fatalf("objcopy %v: %v\n%s", args, err, output)
		}
	}
	defer func(saved string) { debugDirectory = saved }(debugDirectory)
	debugDirectory = root
	want, err := Lookup(binary, "handle")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Lookup(stripped, "handle")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Arguments, want.Arguments) {
		t.Errorf("from the debug file: %v; from the binary: %v", got.Arguments, want.Arguments)
	}
}

// TestOpenedBinary looks up several functions of one opened binary, as a glob's matches are.
func TestOpenedBinary(t *testing.T) {
	binary, err := Open(buildC(t, "gcc", "workload.c", "-O2"))
	if err != nil {
		t.Fatal(err)
	}
	defer binary.Close()
	for _, f := range cFunctions {
		function, err := binary.Lookup(f.symbol)
		if err != nil {
			t.Fatal(err)
		}
		if len(function.Arguments) != len(f.arguments) {
			t.Errorf("%s: %v", f.symbol, function.Arguments)
		}
	}
	main, err := binary.Lookup("main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := main.Resolve("x", nil); err == nil || err.Error() != "main has no argument 'x'; it has argc, argv" {
		t.Errorf("Resolve in main: %v", err)
	}
}

// TestSharedLibrary places the arguments of a shared library's functions as those of an executable.
func TestSharedLibrary(t *testing.T) {
	executable := buildC(t, "gcc", "workload.c", "-O2")
	library := build(t, nil, "gcc", "-g", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o", "out", filepath.Join("testdata", "workload.c"))
	for _, f := range cFunctions {
		want, err := Lookup(executable, f.symbol)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Lookup(library, f.symbol)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Arguments, want.Arguments) {
			t.Errorf("%s in the library: %v; in the executable: %v", f.symbol, got.Arguments, want.Arguments)
		}
	}
}

// TestGCCClone refuses a copy GCC made with fewer parameters than DWARF's abstract origin lists.
func TestGCCClone(t *testing.T) {
	_, err := Lookup(buildC(t, "gcc", "workload.c", "-O2"), "scaled.constprop.0")
	want := "it is a copy of scaled that GCC specialised (.constprop.0), so its arguments are not where the ABI puts them"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Lookup of a GCC clone: %v; want %q", err, want)
	}
}

// TestDebugLink finds the DWARF of a stripped binary in the debug file its .gnu_debuglink names,
// next to it, and refuses one whose checksum differs.
func TestDebugLink(t *testing.T) {
	binary := buildC(t, "gcc", "workload.c", "-O2")
	dir := t.TempDir()
	debugFile, stripped := filepath.Join(dir, "workload.debug"), filepath.Join(dir, "stripped")
	for _, args := range [][]string{{"--only-keep-debug", binary, debugFile}, {"--strip-debug", "--remove-section=.note.gnu.build-id", "--add-gnu-debuglink=" + debugFile, binary, stripped}} {
		if output, err := exec.Command("objcopy", args...).CombinedOutput(); err != nil {
			t.Fatalf("objcopy %v: %v\n%s", args, err, output)
		}
	}
	if _, err := Lookup(stripped, "handle"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(debugFile, []byte("another build"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup(stripped, "handle"); err == nil || !strings.Contains(err.Error(), "no DWARF debug information") {
		t.Errorf("Lookup with a debug file of another build: %v", err)
	}
}

func TestMissingDebugInformation(t *testing.T) {
	binary := buildC(t, "gcc", "workload.c", "-O2")
	stripped := filepath.Join(t.TempDir(), "stripped")
	if output, err := exec.Command("objcopy", "--strip-debug", binary, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, output)
	}
	if _, err := Lookup(stripped, "handle"); err == nil || !strings.Contains(err.Error(), "has no DWARF debug information, nor a debug file in /usr/lib/debug/.build-id or named by .gnu_debuglink; build it with -g, or install its debug symbols") {
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
