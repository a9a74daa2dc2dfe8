package probe

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

const testCProgram = `
#include <stdio.h>
__attribute__((noinline)) int add_numbers(int a, int b) { return a + b; }
static __attribute__((noinline, used)) int helper_static(int a) { return a * 3; }
int main(int argc, char **argv) { printf("%d\n", add_numbers(argc, 2) + helper_static(argc)); return 0; }
`

const testGoProgram = `package main

import (
	"fmt"
	"os"
)

//go:noinline
func Work(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += len(fmt.Sprint(i))
	}
	if s > 100 {
		return s - 1
	}
	return s
}

//go:noinline
func Leaf(a, b int) int { return a*b + 1 }

func main() {
	fmt.Println(Work(len(os.Args)), Leaf(len(os.Args), 3))
}
`

var builtBinaries struct {
	sync.Mutex
	paths map[string]string
}

// buildTestBinary builds the C or Go test program once per test binary: "c" and "go" for this
// machine, "goarm64" the Go one cross-built for arm64 (with testGoBigFrame).
func buildTestBinary(t *testing.T, lang string) string {
	t.Helper()
	if runtime.GOARCH != "amd64" && lang != "goarm64" {
		t.Skip("these checks decode x86-64 code")
	}
	builtBinaries.Lock()
	defer builtBinaries.Unlock()
	if p, ok := builtBinaries.paths[lang]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "kretspan-probe-test-")
	if err != nil {
		t.Fatal(err)
	}
	// Removed by TestMain; t.TempDir would vanish with the first test that built it.
	tempDirs = append(tempDirs, dir)
	out := filepath.Join(dir, lang+"prog")
	var cmd *exec.Cmd
	switch lang {
	case "c":
		if _, err := exec.LookPath("cc"); err != nil {
			t.Skip("no C compiler (cc)")
		}
		src := filepath.Join(dir, "prog.c")
		if err := os.WriteFile(src, []byte(testCProgram), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("cc", "-O1", "-o", out, src)
	case "go", "goarm64":
		goTool, err := exec.LookPath("go")
		if err != nil {
			t.Skipf("no go tool: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probetest\n\ngo 1.22\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(testGoProgram), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(goTool, "build", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		if lang == "goarm64" {
			if err := os.WriteFile(filepath.Join(dir, "big.go"), []byte(testGoBigFrame), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd.Env = append(cmd.Env, "GOARCH=arm64")
		}
	}
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, output)
	}
	if builtBinaries.paths == nil {
		builtBinaries.paths = map[string]string{}
	}
	builtBinaries.paths[lang] = out
	return out
}

var tempDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range tempDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func symbolNamed(t *testing.T, symbols []elf.Symbol, name string) elf.Symbol {
	t.Helper()
	for _, s := range symbols {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no symbol %q among %d", name, len(symbols))
	return elf.Symbol{}
}

func TestFunctionSymbolsOfCBinary(t *testing.T) {
	bin := buildTestBinary(t, "c")
	symbols, err := FunctionSymbols(bin)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range symbols {
		if seen[s.Name] {
			t.Errorf("symbol %s listed twice", s.Name)
		}
		seen[s.Name] = true
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || s.Section == elf.SHN_UNDEF {
			t.Errorf("non-function or undefined symbol %+v", s)
		}
	}
	for _, name := range []string{"main", "add_numbers", "helper_static"} {
		if !seen[name] {
			t.Errorf("missing function symbol %s", name)
		}
	}
	// printf is imported, not defined: it must not be listed.
	for name := range seen {
		if strings.HasPrefix(name, "printf") {
			t.Errorf("undefined import %s listed", name)
		}
	}
}

func TestResolveUprobeCFunction(t *testing.T) {
	bin := buildTestBinary(t, "c")
	got := mustResolveOne(t, "uprobe:"+bin+":add_numbers", newFakeSystem(), 10)
	if got.Kind != KindUprobe || got.Mechanism != MechanismUprobe || got.Name != "add_numbers" || got.Binary != bin || got.ID != 1 {
		t.Errorf("target %+v", got)
	}
	if got.ReturnsErrno {
		t.Error("a user-space function is marked as returning errnos")
	}
	if got.GoReturnOffsets != nil || got.GoEntryOffset != 0 {
		t.Errorf("C function got Go offsets: entry %d returns %v", got.GoEntryOffset, got.GoReturnOffsets)
	}
	if got.Label() != "uprobe:"+bin+":add_numbers" {
		t.Errorf("label %q", got.Label())
	}

	// Globs, not found and limits work on symbols too.
	targets, _, err := Resolve(mustParse(t, "uprobe:"+bin+":*_numbers", "uprobe:"+bin+":helper_*"), newFakeSystem(), 10)
	if err != nil || !slices.Equal(labels(targets), []string{"uprobe:" + bin + ":add_numbers", "uprobe:" + bin + ":helper_static"}) {
		t.Errorf("glob: %q, %v", labels(targets), err)
	}
	if _, _, err := Resolve(mustParse(t, "uprobe:"+bin+":no_such_function"), newFakeSystem(), 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing symbol: err = %v, want ErrNotFound", err)
	}
	if _, _, err := Resolve(mustParse(t, "uprobe:"+bin+":*"), newFakeSystem(), 1); err == nil || !strings.Contains(err.Error(), "matches more than 1") {
		t.Errorf("too wide a glob: err = %v", err)
	}
	if _, _, err := Resolve(mustParse(t, "uprobe:"+bin+":add_numbers", "uprobe:"+bin+":add_numbers"), newFakeSystem(), 10); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate uprobe: err = %v", err)
	}
}

// instructionAt decodes the function's instructions from the start and reports whether offset
// falls on an instruction boundary, returning that instruction and the one before it.
func instructionAt(t *testing.T, code []byte, offset uint64) (prev, at x86asm.Inst) {
	t.Helper()
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			t.Fatalf("decode at %d: %v", off, err)
		}
		if uint64(off) == offset {
			return prev, inst
		}
		if uint64(off) > offset {
			break
		}
		prev = inst
		off += inst.Len
	}
	t.Fatalf("offset %d is not an instruction boundary", offset)
	return
}

func functionCode(t *testing.T, bin string, sym elf.Symbol) []byte {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	section := f.Sections[sym.Section]
	code := make([]byte, sym.Size)
	if _, err := section.ReadAt(code, int64(sym.Value-section.Addr)); err != nil {
		t.Fatal(err)
	}
	return code
}

func TestResolveUprobeGoFunction(t *testing.T) {
	bin := buildTestBinary(t, "go")
	symbols, err := FunctionSymbols(bin)
	if err != nil {
		t.Fatal(err)
	}
	work := symbolNamed(t, symbols, "main.Work")
	symbolNamed(t, symbols, "main.main")
	symbolNamed(t, symbols, "fmt.Sprint")

	targets, _, err := Resolve(mustParse(t, "uprobe:"+bin+":main.Work"), newFakeSystem(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 {
		t.Fatalf("targets %q", labels(targets))
	}
	got := targets[0]
	if got.Kind != KindUprobe || got.Mechanism != MechanismGoReturns || got.Name != "main.Work" || got.ReturnsErrno {
		t.Errorf("target %+v", got)
	}
	if got.GoEntryOffset == 0 {
		t.Fatal("GoEntryOffset is 0: the entry probe would sit before the stack check")
	}
	if len(got.GoReturnOffsets) == 0 {
		t.Fatal("no RET offsets")
	}
	code := functionCode(t, bin, work)
	// The entry offset is an instruction boundary right after the JBE/JB of the stack check.
	prev, _ := instructionAt(t, code, got.GoEntryOffset)
	if prev.Op != x86asm.JBE && prev.Op != x86asm.JB {
		t.Errorf("instruction before the entry offset %d is %v, want the stack check's JBE", got.GoEntryOffset, prev)
	}
	if got.GoEntryOffset >= got.GoReturnOffsets[0] {
		t.Errorf("entry offset %d not before the first RET at %d", got.GoEntryOffset, got.GoReturnOffsets[0])
	}
	// Every RET offset decodes as RET, and every RET is listed.
	var rets []uint64
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			t.Fatal(err)
		}
		if inst.Op == x86asm.RET {
			rets = append(rets, uint64(off))
		}
		off += inst.Len
	}
	if !slices.Equal(rets, got.GoReturnOffsets) {
		t.Errorf("RET offsets %v, want %v", got.GoReturnOffsets, rets)
	}
	for _, off := range got.GoReturnOffsets {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil || inst.Op != x86asm.RET {
			t.Errorf("offset %d decodes as %v (%v), want RET", off, inst, err)
		}
	}
	if !slices.IsSorted(got.GoReturnOffsets) {
		t.Errorf("RET offsets not sorted: %v", got.GoReturnOffsets)
	}
}

func TestResolveUprobeGoLeafFunction(t *testing.T) {
	// A small leaf has no stack check: its entry probe stays at offset 0, RETs are still found.
	bin := buildTestBinary(t, "go")
	targets, _, err := Resolve(mustParse(t, "uprobe:"+bin+":main.Leaf"), newFakeSystem(), 10)
	if err != nil {
		t.Fatal(err)
	}
	got := targets[0]
	if len(got.GoReturnOffsets) == 0 {
		t.Fatal("no RET offsets")
	}
	symbols, err := FunctionSymbols(bin)
	if err != nil {
		t.Fatal(err)
	}
	code := functionCode(t, bin, symbolNamed(t, symbols, "main.Leaf"))
	if got.GoEntryOffset != 0 {
		prev, _ := instructionAt(t, code, got.GoEntryOffset)
		if prev.Op != x86asm.JBE && prev.Op != x86asm.JB {
			t.Errorf("entry offset %d follows %v", got.GoEntryOffset, prev)
		}
	}
	for _, off := range got.GoReturnOffsets {
		if inst, err := x86asm.Decode(code[off:], 64); err != nil || inst.Op != x86asm.RET {
			t.Errorf("offset %d is %v, want RET", off, inst)
		}
	}
}

func TestResolveBinary(t *testing.T) {
	if _, err := ResolveBinary("/nonexistent/kretspan-test-binary"); err == nil {
		t.Error("missing file resolved")
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want it to wrap ErrNotExist", err)
	}
	if _, err := ResolveBinary("libkretspan-does-not-exist"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing library: err = %v", err)
	}
	if _, _, err := Resolve(mustParse(t, "uprobe:/nonexistent/app:main"), newFakeSystem(), 10); err == nil || !strings.Contains(err.Error(), `"uprobe:/nonexistent/app:main"`) {
		t.Errorf("uprobe on a missing binary: err = %v", err)
	}

	// A relative path becomes absolute.
	bin := buildTestBinary(t, "c")
	t.Chdir(filepath.Dir(bin))
	got, err := ResolveBinary("./" + filepath.Base(bin))
	if err != nil || got != bin {
		t.Errorf("ResolveBinary(relative) = %q, %v; want %q", got, err, bin)
	}
	// A file that is not ELF has no symbols to offer.
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FunctionSymbols(notELF); err == nil {
		t.Error("FunctionSymbols of a shell script succeeded")
	}
}

func TestResolveBinaryLibc(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("library directories are those of x86-64 Debian")
	}
	if _, err := os.Stat("/lib/x86_64-linux-gnu/libc.so.6"); err != nil {
		t.Skip("not an x86-64 Debian layout: no /lib/x86_64-linux-gnu/libc.so.6")
	}
	for _, name := range []string{"libc", "c", "libc.so.6"} {
		file, err := ResolveBinary(name)
		if err != nil {
			t.Errorf("ResolveBinary(%q): %v", name, err)
			continue
		}
		f, err := elf.Open(file)
		if err != nil {
			t.Errorf("ResolveBinary(%q) = %s, not ELF: %v", name, file, err)
			continue
		}
		f.Close()
		if !strings.Contains(filepath.Base(file), "libc.so") {
			t.Errorf("ResolveBinary(%q) = %s", name, file)
		}
	}
	// And a glob over libc's symbols resolves through the library name.
	targets, _, err := Resolve(mustParse(t, "uprobe:libc:malloc"), newFakeSystem(), 10)
	if err != nil || len(targets) != 1 || !strings.HasPrefix(targets[0].Binary, "/") || targets[0].GoReturnOffsets != nil {
		t.Errorf("uprobe:libc:malloc = %+v, %v", targets, err)
	}
}

// Specs over the same Go binary, a glob among them, resolve from one reading of the file, each
// symbol found by name.
func TestResolveUprobeManySpecsOfOneBinary(t *testing.T) {
	bin := buildTestBinary(t, "go")
	targets, _, err := Resolve(mustParse(t, "uprobe:"+bin+":main.Work", "uprobe:"+bin+":main.Leaf", "uprobe:"+bin+":fmt.Sprint*"), newFakeSystem(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) < 3 {
		t.Fatalf("targets %q", labels(targets))
	}
	symbols, err := FunctionSymbols(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range targets {
		sym := symbolNamed(t, symbols, got.Name)
		if got.Mechanism != MechanismGoReturns || len(got.GoReturnOffsets) == 0 || got.GoReturnOffsets[len(got.GoReturnOffsets)-1] >= sym.Size {
			t.Errorf("%s: mechanism %v, RET offsets %v in a function of %d bytes", got.Label(), got.Mechanism, got.GoReturnOffsets, sym.Size)
		}
	}
}
