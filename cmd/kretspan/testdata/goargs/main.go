// A Go workload for the argument tests: for each line "N TAG" on stdin it calls handle(N, TAG)
// and prints "handled RET". It prints "ready PID TID" first.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

//go:noinline
func handle(n int, tag string) int {
	return n*1000 + len(tag)
}

func main() {
	runtime.LockOSThread()
	fmt.Printf("ready %d %d\n", os.Getpid(), syscall.Gettid())
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		var n int
		var tag string
		if _, err := fmt.Sscanf(scanner.Text(), "%d %s", &n, &tag); err != nil {
			fmt.Println("bad line:", scanner.Text())
			continue
		}
		fmt.Printf("handled %d\n", handle(n, tag))
	}
}
