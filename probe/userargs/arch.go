package userargs

import (
	"debug/elf"
	"fmt"
)

// arch holds what the calling conventions need to know about one architecture. Registers are
// byte offsets in the kernel's struct pt_regs.
type arch struct {
	name string
	// cIntegerRegisters carry integer and pointer arguments of C and C++ (System V / AAPCS64).
	cIntegerRegisters []int
	cFloatRegisters   int
	// cStackStart is where the first stack-passed argument is, from the stack pointer at entry.
	cStackStart int
	// cHiddenReturnInArgument is true when a return value in memory takes the first integer
	// register (amd64's rdi); arm64 passes its address in x8 instead.
	cHiddenReturnInArgument bool
	// goIntegerRegisters and goFloatRegisters are ABIInternal's, in assignment order.
	goIntegerRegisters []int
	goFloatRegisters   int
	// goStackStart is where Go's stack-assigned arguments begin, from the stack pointer at entry.
	goStackStart int
}

// Offsets in struct pt_regs (arch/x86/include/asm/ptrace.h): 8 bytes each, in this order.
const (
	amd64R15 = 8 * iota
	amd64R14
	amd64R13
	amd64R12
	amd64BP
	amd64BX
	amd64R11
	amd64R10
	amd64R9
	amd64R8
	amd64AX
	amd64CX
	amd64DX
	amd64SI
	amd64DI
)

// arm64Register is the offset of xN in struct pt_regs (arch/arm64/include/asm/ptrace.h: regs[31],
// then sp at 248, pc, pstate).
func arm64Register(n int) int { return 8 * n }

var amd64 = arch{
	name:                    "amd64",
	cIntegerRegisters:       []int{amd64DI, amd64SI, amd64DX, amd64CX, amd64R8, amd64R9},
	cFloatRegisters:         8,
	cStackStart:             8, // above the return address
	cHiddenReturnInArgument: true,
	goIntegerRegisters:      []int{amd64AX, amd64BX, amd64CX, amd64DI, amd64SI, amd64R8, amd64R9, amd64R10, amd64R11},
	goFloatRegisters:        15,
	goStackStart:            8, // above the return address
}

var arm64 = arch{
	name:               "arm64",
	cIntegerRegisters:  arm64Registers(8),
	cFloatRegisters:    8,
	cStackStart:        0, // the return address is in x30
	goIntegerRegisters: arm64Registers(16),
	goFloatRegisters:   16,
	goStackStart:       8, // 0(RSP) is the slot where the callee saves the link register
}

func arm64Registers(n int) []int {
	regs := make([]int, n)
	for i := range regs {
		regs[i] = arm64Register(i)
	}
	return regs
}

func archOf(file *elf.File) (arch, error) {
	switch file.Machine {
	case elf.EM_X86_64:
		return amd64, nil
	case elf.EM_AARCH64:
		return arm64, nil
	}
	return arch{}, fmt.Errorf("architecture %s is not supported (amd64 and arm64 are)", file.Machine)
}
