// Package testprocess runs the processes of kretspan's integration tests: kretspan itself, and the
// workloads of cmd/kretspan/testdata. A workload prints "ready PID TID", waits for input on stdin
// and reports on stdout what it did, so that tests can compare kretspan's spans with the truth.
package testprocess

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Call is one call as the workload timed it around the call (CLOCK_REALTIME nanoseconds).
type Call struct {
	Before, After int64
	Ret           int64
}

// Workload is a running workload.
type Workload struct {
	Cmd      *exec.Cmd
	PID, TID int64 // of the thread that makes the calls
	stdin    io.WriteCloser
	stdout   *bufio.Reader
}

// StartWorkload starts a workload and waits for its "ready PID TID" line; it is killed when the test ends.
func StartWorkload(t testing.TB, path string, args ...string) *Workload {
	t.Helper()
	return StartWorkloadEnv(t, path, nil, args...)
}

// StartWorkloadEnv is StartWorkload with variables added to the test's environment.
func StartWorkloadEnv(t testing.TB, path string, env []string, args ...string) *Workload {
	t.Helper()
	p := &Workload{Cmd: exec.Command(path, args...)}
	if env != nil {
		p.Cmd.Env = append(os.Environ(), env...)
	}
	var err error
	if p.stdin, err = p.Cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdout = bufio.NewReader(out)
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cmd.Process.Kill(); p.Cmd.Wait() })
	line, err := p.stdout.ReadString('\n')
	if _, scanErr := fmt.Sscanf(line, "ready %d %d", &p.PID, &p.TID); err != nil || scanErr != nil {
		t.Fatalf("workload %s said %q: %v %v", path, line, err, scanErr)
	}
	return p
}

// Run lets a workload that makes timed calls (nested.c, gonested) go, and returns its calls once
// it has exited.
func (p *Workload) Run(t testing.TB) []Call {
	t.Helper()
	fmt.Fprintln(p.stdin, "go")
	var calls []Call
	for {
		line, err := p.stdout.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var c Call
		if _, err := fmt.Sscanf(line, "call %d %d %d", &c.Before, &c.After, &c.Ret); err != nil {
			t.Fatalf("workload line %q: %v", line, err)
		}
		calls = append(calls, c)
	}
	if err := p.Cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	return calls
}

// Send sends one command without waiting for the answer, for commands that block.
func (p *Workload) Send(command string) {
	fmt.Fprintln(p.stdin, command)
}

// Do sends one command to a workload that takes commands (driver.c) and returns its answer.
func (p *Workload) Do(t testing.TB, command string) string {
	t.Helper()
	fmt.Fprintln(p.stdin, command)
	line, err := p.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("workload: %s: %v", command, err)
	}
	return strings.TrimSpace(line)
}
