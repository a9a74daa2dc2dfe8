package main

import (
	"runtime"
	"testing"
)

// arm64 has only the generic syscall table: x86-64's open, fork and stat have no tracepoints
// there, and probing them is refused in one line with exit status 2, before anything attaches.
func TestKernelSyscallsTheArchitectureLacks(t *testing.T) {
	requireRoot(t)
	if runtime.GOARCH != "arm64" {
		t.Skipf("%s has open, fork and stat", runtime.GOARCH)
	}
	for _, name := range []string{"open", "fork", "stat"} {
		checkOneLineUsage(t, []string{"syscall:" + name}, `probe "syscall:`+name+`": no such target: no syscall tracepoint matches`)
	}
}
