package probe

import (
	"fmt"
	"strings"
)

// Target is one concrete thing to attach: a spec resolved against the running system.
type Target struct {
	ID   uint32 // 1-based; 0 is reserved in the BPF programs
	Spec Spec   // the spec that produced it
	Kind Kind   // KindKprobe, KindFentry, KindSyscall or KindUprobe; never KindAuto
	// Mechanism is how it attaches, decided with the kernel's features: a kprobe attaches through
	// kprobe.multi where the kernel has it, a Go function through uprobes on its RET instructions.
	Mechanism Mechanism
	Name      string // the function, syscall or symbol: the span name
	Binary    string // uprobe: the resolved file

	// SyscallNumber is the syscall's number; the syscall tracepoints report only that.
	SyscallNumber int
	// RetInt32 says the return type is 32 bits wide, so the BPF side sign-extends it.
	RetInt32 bool
	// ArgCount is the function's argument count: where fexit finds the return value.
	ArgCount int
	// GoEntryOffset, for functions in Go binaries, is where the entry probe goes: past the
	// stack-growth check, which may restart the function.
	GoEntryOffset uint64
	// GoReturnOffsets, for functions in Go binaries, are the offsets of the function's RET
	// instructions from its symbol: uprobes there stand in for a uretprobe.
	GoReturnOffsets []uint64
	// ReturnsErrno says a negative return value in [-4095, -1] is an errno (kernel functions and
	// syscalls); user-space functions have no such convention.
	ReturnsErrno bool
}

// Label names the target as the user would write it for this mechanism.
func (t Target) Label() string {
	if t.Kind == KindUprobe {
		return fmt.Sprintf("uprobe:%s:%s", t.Binary, t.Name)
	}
	return string(t.Kind) + ":" + t.Name
}

func (t Target) key() string {
	return strings.Join([]string{string(t.Kind), t.Binary, t.Name}, "\x00")
}
