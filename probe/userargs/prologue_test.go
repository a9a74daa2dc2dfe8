package userargs

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// An unoptimized function begins by storing each register argument into its frame, and its DWARF
// then places the argument in that frame slot. frameSlotSources reads the prologue's machine code
// with binutils' objdump and returns, for each slot (as a DWARF frame-base offset from the CFA),
// the argument register whose entry value was stored there.

var (
	amd64Instruction  = regexp.MustCompile(`^\s*[0-9a-f]+:\s+(\w+)\s+(.*?)\s*$`)
	amd64RegisterMove = regexp.MustCompile(`^%(\w+),%(\w+)$`)
	amd64FrameStore   = regexp.MustCompile(`^%(\w+),(-?0x[0-9a-f]+)?\(%rbp\)$`)
	arm64FrameStore   = regexp.MustCompile(`^([wxdsbh]\d+), \[(sp|x29)(?:, #(-?\d+))?\]$`)
	arm64PairStore    = regexp.MustCompile(`^([wx])(\d+), [wx](\d+), \[(sp|x29)(?:, #(-?\d+))?\]$`)
	arm64RegisterMove = regexp.MustCompile(`^([wx]\d+), ([wx]\d+)$`)
	arm64StackGrow    = regexp.MustCompile(`^(?:sp, sp, #(0x[0-9a-f]+|\d+)|x29, x30, \[sp, #-(\d+)\]!)$`)
)

func frameSlotSources(t *testing.T, binary, symbol string) map[int]string {
	t.Helper()
	file, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	machine := file.Machine
	file.Close()
	objdump := "objdump"
	if machine == elf.EM_AARCH64 {
		objdump = "aarch64-linux-gnu-objdump"
	}
	out, err := exec.Command(objdump, "-d", "--no-show-raw-insn", "--disassemble="+symbol, binary).Output()
	if err != nil {
		t.Fatalf("%s: %v", objdump, err)
	}
	slots := map[int]string{}
	origin := map[string]string{} // register → the argument register its value came from
	source := func(register string) string {
		if o, ok := origin[register]; ok {
			return o
		}
		return register
	}
	depth, framePointerDepth := 0, 0 // bytes below the CFA: of sp, of x29
	base := func(register string) int {
		if register == "x29" {
			return framePointerDepth
		}
		return depth
	}
	for _, line := range strings.Split(string(out), "\n") {
		m := amd64Instruction.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		op, operands := m[1], strings.ReplaceAll(m[2], "\t", " ")
		if machine == elf.EM_X86_64 {
			switch {
			case op == "push", op == "endbr64", op == "mov" && operands == "%rsp,%rbp", op == "sub" && strings.HasSuffix(operands, ",%rsp"):
			case strings.HasPrefix(op, "mov") && amd64FrameStore.MatchString(operands):
				s := amd64FrameStore.FindStringSubmatch(operands)
				offset, _ := strconv.ParseInt(s[2], 0, 64)
				slots[int(offset)-16] = source(amd64Family(s[1])) // the CFA is %rbp+16
			case strings.HasPrefix(op, "mov") && amd64RegisterMove.MatchString(operands):
				s := amd64RegisterMove.FindStringSubmatch(operands)
				origin[amd64Family(s[2])] = source(amd64Family(s[1]))
			default:
				return slots // the prologue is over
			}
			continue
		}
		switch {
		case (op == "sub" || op == "stp") && arm64StackGrow.MatchString(operands):
			s := arm64StackGrow.FindStringSubmatch(operands)
			n, _ := strconv.ParseInt(s[1]+s[2], 0, 64)
			depth += int(n)
		case op == "stp" && arm64PairStore.MatchString(operands):
			s := arm64PairStore.FindStringSubmatch(operands)
			offset, _ := strconv.Atoi(s[5])
			slot := offset - base(s[4])
			width := map[string]int{"w": 4, "x": 8}[s[1]]
			slots[slot], slots[slot+width] = source("x"+s[2]), source("x"+s[3])
		case op == "stp": // callee-saved registers
		case op == "mov" && operands == "x29, sp":
			framePointerDepth = depth
		case op == "mov" && arm64RegisterMove.MatchString(operands):
			s := arm64RegisterMove.FindStringSubmatch(operands)
			origin[arm64Family(s[1])] = source(arm64Family(s[2]))
		case strings.HasPrefix(op, "str") && arm64FrameStore.MatchString(operands):
			s := arm64FrameStore.FindStringSubmatch(operands)
			offset, _ := strconv.Atoi(s[3])
			slots[offset-base(s[2])] = source(arm64Family(s[1]))
		default:
			return slots
		}
	}
	return slots
}

// amd64Family names a general-purpose register by its pt_regs slot: %edi, %di and %dil are "di".
func amd64Family(name string) string {
	switch name {
	case "al", "ax", "eax", "rax":
		return "ax"
	case "bl", "bx", "ebx", "rbx":
		return "bx"
	case "cl", "cx", "ecx", "rcx":
		return "cx"
	case "dl", "dx", "edx", "rdx":
		return "dx"
	case "sil", "si", "esi", "rsi":
		return "si"
	case "dil", "di", "edi", "rdi":
		return "di"
	}
	if strings.HasPrefix(name, "r") {
		return strings.TrimRight(name, "dwb")
	}
	return name
}

// arm64Family names w3 and x3 alike "x3".
func arm64Family(name string) string {
	if strings.HasPrefix(name, "w") {
		return "x" + name[1:]
	}
	return name
}

func TestFrameSlotSources(t *testing.T) {
	// small(unsigned short u16, signed char s8, _Bool ok, enum color c, unsigned long long u64,
	// int *counter) at -O0: gcc copies %edx to %eax and %edi through %edx before storing them.
	for _, c := range []struct{ compiler, want string }{
		{"gcc", "map[-48:r9 -40:r8 -32:cx -28:dx -24:si -20:di]"},
		{"aarch64-linux-gnu-gcc", "map[-24:x5 -16:x4 -8:x3 -4:x2 -3:x1 -2:x0]"},
	} {
		binary := buildC(t, c.compiler, "workload.c", "-O0")
		if got := fmt.Sprint(frameSlotSources(t, binary, "small")); got != c.want {
			t.Errorf("%s: frame slots %s; want %s", c.compiler, got, c.want)
		}
	}
}
