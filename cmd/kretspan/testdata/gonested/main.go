// The Go twin of nested.c: main.outer calls main.inner, with the same protocol and timing, so
// tests exercise uprobes on a Go binary's RET instructions.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

//go:noinline
func inner(ms int) int {
	sleep(ms)
	return ms * 2
}

//go:noinline
func outer(ms int) int {
	r := inner(ms)
	sleep(ms)
	return r + 1
}

// sleep blocks the thread in nanosleep, as the C workload does. The Go runtime's preemption
// signal (SIGURG) interrupts it: sleep on for what remains.
func sleep(ms int) {
	ts := syscall.NsecToTimespec(int64(time.Duration(ms) * time.Millisecond))
	var remaining syscall.Timespec
	for syscall.Nanosleep(&ts, &remaining) == syscall.EINTR {
		ts = remaining
	}
}

func main() {
	runtime.LockOSThread() // one thread, so the test knows the tid
	if len(os.Args) != 3 {
		os.Exit(2)
	}
	calls, _ := strconv.Atoi(os.Args[1])
	ms, _ := strconv.Atoi(os.Args[2])
	fmt.Printf("ready %d %d\n", os.Getpid(), syscall.Gettid())
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		os.Exit(1)
	}
	for range calls {
		before := time.Now().UnixNano()
		ret := outer(ms)
		after := time.Now().UnixNano()
		fmt.Printf("call %d %d %d\n", before, after, ret)
	}
}
