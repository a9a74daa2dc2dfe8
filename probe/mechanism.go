package probe

import "fmt"

// Mechanism is how a target attaches: the kernel facility and the programs kretspan puts on it.
// Resolve decides it; package bpf attaches through a table with a row for each.
type Mechanism uint8

const (
	mechanismUnset Mechanism = iota
	// MechanismKprobe: a kprobe and a kretprobe per function.
	MechanismKprobe
	// MechanismKprobeMulti: one kprobe.multi and one kretprobe.multi link for every such target
	// (kernel 5.18+), the probe id in each function's attach cookie.
	MechanismKprobeMulti
	// MechanismFentry: fentry and fexit programs on BPF trampolines, loaded per function.
	MechanismFentry
	// MechanismSyscallTracepoints: the syscalls:sys_enter_NAME and sys_exit_NAME tracepoints, one
	// program pair for every syscall, which finds the probe by syscall number.
	MechanismSyscallTracepoints
	// MechanismUprobe: a uprobe and a uretprobe.
	MechanismUprobe
	// MechanismGoReturns: for Go functions, a uprobe past the stack check and one on each RET
	// instruction, since a uretprobe corrupts the stacks the Go runtime moves.
	MechanismGoReturns
	mechanismEnd
)

var mechanismNames = [mechanismEnd]string{
	MechanismKprobe:             "kprobe",
	MechanismKprobeMulti:        "kprobe.multi",
	MechanismFentry:             "fentry",
	MechanismSyscallTracepoints: "tracepoint",
	MechanismUprobe:             "uprobe",
	MechanismGoReturns:          "uprobe.go-returns",
}

// Mechanisms lists every mechanism.
func Mechanisms() []Mechanism {
	all := make([]Mechanism, 0, mechanismEnd-1)
	for m := mechanismUnset + 1; m < mechanismEnd; m++ {
		all = append(all, m)
	}
	return all
}

// String is the mechanism's name, as kretspan check --json reports it.
func (m Mechanism) String() string {
	if m > mechanismUnset && m < mechanismEnd {
		return mechanismNames[m]
	}
	return fmt.Sprintf("Mechanism(%d)", uint8(m))
}

// MarshalText makes a Mechanism its name in JSON.
func (m Mechanism) MarshalText() ([]byte, error) {
	if m <= mechanismUnset || m >= mechanismEnd {
		return nil, fmt.Errorf("no mechanism %d", uint8(m))
	}
	return []byte(m.String()), nil
}
