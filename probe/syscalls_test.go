package probe

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The generated table against golang.org/x/sys/unix, which has its own per-architecture tables.
func TestSyscallNumbersMatchTheArchitecture(t *testing.T) {
	for name, want := range map[string]int{
		"read": unix.SYS_READ, "write": unix.SYS_WRITE, "openat": unix.SYS_OPENAT, "close": unix.SYS_CLOSE,
		"nanosleep": unix.SYS_NANOSLEEP, "getppid": unix.SYS_GETPPID, "clone": unix.SYS_CLONE,
		"fcntl": unix.SYS_FCNTL, "mmap": unix.SYS_MMAP, "newfstatat": unix.SYS_NEWFSTATAT,
		"exit_group": unix.SYS_EXIT_GROUP, "clone3": unix.SYS_CLONE3,
		// Tracepoints named after the kernel function: sys_enter_newfstat is fstat's.
		"newfstat": unix.SYS_FSTAT, "newuname": unix.SYS_UNAME, "sendfile64": unix.SYS_SENDFILE, "umount": unix.SYS_UMOUNT2,
	} {
		if got, ok := syscallNumbers[name]; !ok || got != want {
			t.Errorf("%s on %s: %d (known %v), want %d", name, runtime.GOARCH, got, ok, want)
		}
	}
	// arm64 has only the generic table: no open, fork or stat of its own.
	if runtime.GOARCH == "arm64" {
		for _, name := range []string{"open", "fork", "vfork", "stat", "poll"} {
			if nr, ok := syscallNumbers[name]; ok {
				t.Errorf("%s on arm64: %d, but the generic table has no such syscall", name, nr)
			}
		}
	}
}
