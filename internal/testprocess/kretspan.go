package testprocess

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Kretspan is a running kretspan.
type Kretspan struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	exited chan struct{} // closed when the process has exited; err is then its exit error
	err    error
}

// StartKretspan starts kretspan with extra environment and waits until it has attached; it is
// killed when the test ends.
func StartKretspan(t testing.TB, bin string, env []string, args ...string) *Kretspan {
	t.Helper()
	k := &Kretspan{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	k.cmd.Env = append(os.Environ(), env...)
	k.cmd.Stdout = &k.stdout
	k.cmd.Stderr = &k.stderr
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		k.err = k.cmd.Wait()
		close(k.exited)
	}()
	t.Cleanup(func() {
		k.cmd.Process.Kill()
		<-k.exited
	})
	// Emulated kernels (make vmtest) attach more slowly.
	wait := 30 * time.Second
	if os.Getenv("KRETSPAN_VMTEST") != "" {
		wait = 2 * time.Minute
	}
	start := time.Now()
	for !strings.Contains(k.stderr.String(), "kretspan: tracing") {
		select {
		case <-k.exited:
			t.Fatalf("kretspan exited (%v) before attaching:\n%s", k.err, k.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Since(start) > wait {
			t.Fatalf("kretspan did not attach within %v:\n%s", wait, k.stderr.String())
		}
	}
	t.Logf("kretspan attached in %v", time.Since(start).Round(time.Millisecond))
	return k
}

// Stop sends SIGINT: kretspan exports what it still holds, prints its summary and must exit 0.
func (k *Kretspan) Stop(t testing.TB) {
	t.Helper()
	k.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-k.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("kretspan did not exit within 30s of SIGINT:\n%s", k.stderr.String())
	}
	if k.err != nil {
		t.Fatalf("kretspan exited with %v after SIGINT:\n%s", k.err, k.stderr.String())
	}
}

// PID is kretspan's process id.
func (k *Kretspan) PID() int { return k.cmd.Process.Pid }

// Stdout and Stderr are what kretspan has written so far.
func (k *Kretspan) Stdout() string { return k.stdout.String() }
func (k *Kretspan) Stderr() string { return k.stderr.String() }

// syncBuffer is a bytes.Buffer that a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
