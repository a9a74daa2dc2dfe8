package probe

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"

	"github.com/kretspan/kretspan/probe/userargs"
)

// libraryDirs are searched, in order, for a bare library name such as "libc": the Debian
// multiarch directories of the architecture kretspan runs on, then the common ones.
var libraryDirs = []string{
	"/lib/" + multiarchTuple[runtime.GOARCH], "/usr/lib/" + multiarchTuple[runtime.GOARCH], "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
}

var multiarchTuple = map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}

// ResolveBinary turns a uprobe PATH into a file: a path as given, or a bare library name
// ("libc", "libssl.so.3") looked up the way the dynamic loader would.
func ResolveBinary(name string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("binary %s: %w", name, err)
		}
		return filepath.Abs(name)
	}
	candidates := []string{name, name + ".so"}
	if !strings.HasPrefix(name, "lib") {
		candidates = append(candidates, "lib"+name+".so")
	}
	for _, dir := range libraryDirs {
		for _, candidate := range candidates {
			// Versioned names (libc.so.6) count too; an unversioned libc.so may be a linker script.
			matches, _ := filepath.Glob(filepath.Join(dir, candidate+".[0-9]*"))
			slices.Sort(matches)
			for _, file := range append([]string{filepath.Join(dir, candidate)}, matches...) {
				if isELF(file) {
					return file, nil
				}
			}
		}
	}
	return "", fmt.Errorf("library %q not found in %s; give its full path", name, strings.Join(libraryDirs, ", "))
}

func isELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// FunctionSymbols lists the defined function symbols of an ELF file (static and dynamic tables).
func FunctionSymbols(path string) ([]elf.Symbol, error) {
	file, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer file.Close()
	return functionSymbols(path, file)
}

func functionSymbols(path string, file *elf.File) ([]elf.Symbol, error) {
	symbols, err := userargs.FunctionSymbols(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return symbols, nil
}

// executable is an ELF file read once per Resolve, however many symbols its specs match.
type executable struct {
	path    string
	os      *os.File
	elf     *elf.File
	names   []string              // function symbols, in symbol-table order
	symbols map[string]elf.Symbol // by name
	isGo    bool
}

// binaries holds the executables a Resolve opened, by resolved path.
type binaries map[string]*executable

func (b binaries) open(path string) (*executable, error) {
	if exe, ok := b[path]; ok {
		return exe, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	file, err := elf.NewFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	symbols, err := functionSymbols(path, file)
	if err != nil {
		f.Close()
		return nil, err
	}
	_, goErr := buildinfo.Read(f)
	exe := &executable{path: path, os: f, elf: file, names: make([]string, len(symbols)), symbols: make(map[string]elf.Symbol, len(symbols)), isGo: goErr == nil}
	for i, sym := range symbols {
		exe.names[i] = sym.Name
		exe.symbols[sym.Name] = sym
	}
	b[path] = exe
	return exe, nil
}

func (b binaries) close() {
	for _, exe := range b {
		exe.os.Close()
	}
}

func resolveUprobe(spec Spec, files binaries, globLimit int) ([]Target, error) {
	binary, err := ResolveBinary(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", spec.Raw, err)
	}
	exe, err := files.open(binary)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", spec.Raw, err)
	}
	matched, err := spec.Match(exe.names, globLimit)
	if err != nil {
		return nil, err
	}
	if len(matched) == 0 {
		return nil, fmt.Errorf("probe %q: %w: no function symbol %q in %s; see 'kretspan list --binary %s'", spec.Raw, ErrNotFound, spec.Pattern, binary, binary)
	}
	signed32 := signed32Returns(exe.elf, matched)
	var targets []Target
	for _, name := range matched {
		t := Target{Spec: spec, Kind: KindUprobe, Mechanism: MechanismUprobe, Name: name, Binary: binary, RetInt32: signed32[name]}
		if exe.isGo {
			entry, returns, err := goProbeOffsets(exe, exe.symbols[name])
			if err != nil {
				return nil, fmt.Errorf("probe %q: %w", spec.Raw, err)
			}
			t.Mechanism, t.GoEntryOffset, t.GoReturnOffsets = MechanismGoReturns, entry, returns
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// signed32Returns reads, from the binary's DWARF debug information where it has any, which of the
// named functions return a signed 32-bit integer, so that an int returning -1 is not shown as
// 4294967295. Functions without debug information are shown as 64 bits.
func signed32Returns(file *elf.File, names []string) map[string]bool {
	signed := map[string]bool{}
	data, err := file.DWARF()
	if err != nil {
		return signed
	}
	wanted := map[string]bool{}
	for _, name := range names {
		wanted[name] = true
	}
	reader := data.Reader()
	for {
		entry, err := reader.Next()
		if err != nil || entry == nil {
			return signed
		}
		if entry.Tag != dwarf.TagSubprogram {
			continue
		}
		name, _ := entry.Val(dwarf.AttrName).(string)
		offset, hasType := entry.Val(dwarf.AttrType).(dwarf.Offset)
		if !wanted[name] || !hasType {
			continue
		}
		typ, err := data.Type(offset)
		for err == nil {
			typedef, ok := typ.(*dwarf.TypedefType)
			if !ok {
				break
			}
			typ = typedef.Type
		}
		if integer, ok := typ.(*dwarf.IntType); ok && err == nil && integer.Size() == 4 {
			signed[name] = true
		}
	}
}

// goProbeOffsets decodes a Go function's machine code and returns where its entry probe goes and
// the offsets of its RET instructions (a byte scan for a RET's encoding would also hit immediates).
//
// The entry probe goes after the stack-bound check: when the goroutine's stack must grow, the
// prologue calls morestack, which restarts the function from its first instruction, so a probe
// there would see one call enter twice.
func goProbeOffsets(exe *executable, sym elf.Symbol) (entry uint64, returns []uint64, err error) {
	file, binary := exe.elf, exe.path
	var decode func(code []byte) (entry uint64, returns []uint64, err error)
	switch file.Machine {
	case elf.EM_X86_64:
		decode = goProbeOffsetsAMD64
	case elf.EM_AARCH64:
		decode = goProbeOffsetsARM64
	default:
		return 0, nil, fmt.Errorf("%s: Go functions are supported on x86-64 and arm64, not %s", binary, file.Machine)
	}
	if sym.Size == 0 || int(sym.Section) >= len(file.Sections) {
		return 0, nil, fmt.Errorf("%s: symbol %s has no size; cannot find its returns", binary, sym.Name)
	}
	section := file.Sections[sym.Section]
	code := make([]byte, sym.Size)
	if _, err := section.ReadAt(code, int64(sym.Value-section.Addr)); err != nil {
		return 0, nil, fmt.Errorf("%s: read code of %s: %w", binary, sym.Name, err)
	}
	entry, returns, err = decode(code)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %s: %w", binary, sym.Name, err)
	}
	if len(returns) == 0 {
		return 0, nil, fmt.Errorf("%s: function %s has no RET instruction (it may never return)", binary, sym.Name)
	}
	return entry, returns, nil
}

func goProbeOffsetsAMD64(code []byte) (entry uint64, returns []uint64, err error) {
	const prologueInstructions = 4
	stackCheck := false
	for offset, count := 0, 0; offset < len(code); count++ {
		inst, err := x86asm.Decode(code[offset:], 64)
		if err != nil {
			// A uprobe inside an instruction would corrupt the program: refuse rather than guess.
			return 0, nil, fmt.Errorf("cannot decode at offset %d: %w", offset, err)
		}
		next := offset + inst.Len
		if count < prologueInstructions {
			// CMP against g.stackguard0 (g lives in R14 under Go's register ABI), then JBE to morestack.
			if inst.Op == x86asm.CMP && usesR14(inst) {
				stackCheck = true
			} else if stackCheck && (inst.Op == x86asm.JBE || inst.Op == x86asm.JB) && entry == 0 {
				entry = uint64(next)
			}
		}
		if inst.Op == x86asm.RET {
			returns = append(returns, uint64(offset))
		}
		offset = next
	}
	return entry, returns, nil
}

func usesR14(inst x86asm.Inst) bool {
	for _, arg := range inst.Args {
		switch a := arg.(type) {
		case x86asm.Mem:
			if a.Base == x86asm.R14 {
				return true
			}
		case x86asm.Reg:
			if a == x86asm.R14 {
				return true
			}
		}
	}
	return false
}

// goProbeOffsetsARM64 reads arm64 code, whose instructions are all 4 bytes and aligned: a word the
// decoder does not know (padding, a literal of the assembler's pool) cannot shift the others, so
// it is stepped over. The prologue loads g.stackguard0 through g (R28), compares the stack pointer
// or the frame's lowest address with it and branches to morestack with B.LS; frames larger than
// the stack guard first check for wrap-around with B.LO (B.CC), so the entry is after the B.LS.
func goProbeOffsetsARM64(code []byte) (entry uint64, returns []uint64, err error) {
	const (
		instructionSize      = 4
		prologueInstructions = 6
		condLS               = 9 // "lower or same": condition field 0b1001
	)
	stackCheck := false
	for offset := 0; offset+instructionSize <= len(code); offset += instructionSize {
		inst, err := arm64asm.Decode(code[offset : offset+instructionSize])
		if err != nil {
			continue
		}
		if offset/instructionSize < prologueInstructions && entry == 0 {
			if inst.Op == arm64asm.LDR && loadsThroughG(inst) {
				stackCheck = true
			} else if cond, ok := inst.Args[0].(arm64asm.Cond); stackCheck && inst.Op == arm64asm.B && ok && cond.Value == condLS {
				entry = uint64(offset + instructionSize)
			}
		}
		if inst.Op == arm64asm.RET {
			returns = append(returns, uint64(offset))
		}
	}
	return entry, returns, nil
}

func loadsThroughG(inst arm64asm.Inst) bool {
	mem, ok := inst.Args[1].(arm64asm.MemImmediate)
	return ok && mem.Base == arm64asm.RegSP(arm64asm.X28)
}
