package probe

import (
	"debug/elf"
	"encoding/binary"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A frame larger than the stack guard: its prologue checks for wrap-around before the bound.
const testGoBigFrame = `package main

//go:noinline
func Big(n int) int {
	var buf [1000]int
	for i := range buf {
		buf[i] = i * n
	}
	return buf[n%len(buf)]
}

func init() { println(Big(3)) }
`

// objdumpLine is one instruction as the Go toolchain's disassembler prints it.
type objdumpLine struct {
	offset uint64
	text   string
}

// goObjdump disassembles one function with `go tool objdump`, the ground truth these tests compare
// the decoder with.
func goObjdump(t *testing.T, bin string, sym elf.Symbol) []objdumpLine {
	t.Helper()
	out, err := exec.Command("go", "tool", "objdump", "-s", "^"+strings.ReplaceAll(sym.Name, ".", `\.`)+"$", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, out)
	}
	var lines []objdumpLine
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, "\t")
		// "  file.go:N", "", "", "0xADDR", "", "", "ENCODING", "", "", "TEXT"
		var cells []string
		for _, f := range fields {
			if f = strings.TrimSpace(f); f != "" {
				cells = append(cells, f)
			}
		}
		if len(cells) < 3 || !strings.HasPrefix(cells[1], "0x") {
			continue
		}
		addr, err := strconv.ParseUint(cells[1], 0, 64)
		if err != nil {
			t.Fatalf("objdump line %q: %v", line, err)
		}
		text := "?"
		if len(cells) > 3 {
			text = cells[3]
		}
		lines = append(lines, objdumpLine{offset: addr - sym.Value, text: text})
	}
	if len(lines) == 0 {
		t.Fatalf("go tool objdump printed nothing for %s:\n%s", sym.Name, out)
	}
	return lines
}

func resolveGoARM64(t *testing.T, name string) (Target, []objdumpLine, []byte) {
	t.Helper()
	bin := buildTestBinary(t, "goarm64")
	symbols, err := FunctionSymbols(bin)
	if err != nil {
		t.Fatal(err)
	}
	sym := symbolNamed(t, symbols, name)
	targets, _, err := Resolve(mustParse(t, "uprobe:"+bin+":"+name), newFakeSystem(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Mechanism != MechanismGoReturns {
		t.Fatalf("targets %+v", targets)
	}
	return targets[0], goObjdump(t, bin, sym), functionCode(t, bin, sym)
}

func TestResolveUprobeGoFunctionARM64(t *testing.T) {
	for _, name := range []string{"main.Work", "main.Big"} {
		t.Run(name, func(t *testing.T) {
			got, disassembly, code := resolveGoARM64(t, name)
			if !strings.HasPrefix(disassembly[0].text, "MOVD 16(R28), R16") {
				t.Fatalf("%s does not start with the load of g.stackguard0: %q", name, disassembly[0].text)
			}
			// The entry is right after the stack check's BLS, which jumps to the call of morestack.
			var wantEntry uint64
			for i, line := range disassembly[:6] {
				if strings.HasPrefix(line.text, "BLS ") {
					wantEntry = disassembly[i+1].offset
					break
				}
			}
			if wantEntry == 0 || got.GoEntryOffset != wantEntry {
				t.Errorf("entry offset %d, want %d (after BLS):\n%v", got.GoEntryOffset, wantEntry, disassembly[:8])
			}
			var morestack bool
			for _, line := range disassembly {
				morestack = morestack || strings.HasPrefix(line.text, "CALL runtime.morestack")
			}
			if !morestack {
				t.Errorf("%s has no call of runtime.morestack, so no stack check", name)
			}
			checkARM64Returns(t, got, disassembly, code)
		})
	}
}

func TestResolveUprobeGoLeafFunctionARM64(t *testing.T) {
	// A small leaf has no stack check: the entry probe stays at the first instruction.
	got, disassembly, code := resolveGoARM64(t, "main.Leaf")
	if got.GoEntryOffset != 0 {
		t.Errorf("entry offset %d, want 0:\n%v", got.GoEntryOffset, disassembly)
	}
	checkARM64Returns(t, got, disassembly, code)
}

func checkARM64Returns(t *testing.T, got Target, disassembly []objdumpLine, code []byte) {
	t.Helper()
	var want []uint64
	for _, line := range disassembly {
		if line.text == "RET" {
			want = append(want, line.offset)
		}
	}
	if len(want) == 0 || !slices.Equal(got.GoReturnOffsets, want) {
		t.Errorf("RET offsets %v, want %v", got.GoReturnOffsets, want)
	}
	const retX30 = 0xd65f03c0 // RET, returning to the link register
	for _, off := range got.GoReturnOffsets {
		if word := binary.LittleEndian.Uint32(code[off:]); word != retX30 {
			t.Errorf("offset %d holds %#08x, want RET %#08x", off, word, retX30)
		}
	}
}
