package testprocess

import (
	"github.com/kretspan/kretspan/internal/summary"

	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Kretspan is a running kretspan.
type Kretspan struct {
	cmd    *exec.Cmd
	stdout SyncBuffer
	stderr SyncBuffer
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
	for _, ready := summary.Ready(k.stderr.String()); !ready; _, ready = summary.Ready(k.stderr.String()) {
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
	k.Signal(t, syscall.SIGINT)
}

// Signal sends sig and waits for kretspan to exit with status 0.
func (k *Kretspan) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	k.cmd.Process.Signal(sig)
	select {
	case <-k.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("kretspan did not exit within 30s of %v:\n%s", sig, k.stderr.String())
	}
	if k.err != nil {
		t.Fatalf("kretspan exited with %v after %v:\n%s", k.err, sig, k.stderr.String())
	}
}

// SendSignal sends sig and returns at once.
func (k *Kretspan) SendSignal(sig os.Signal) { k.cmd.Process.Signal(sig) }

// Exited is closed when kretspan has exited.
func (k *Kretspan) Exited() <-chan struct{} { return k.exited }

// ExitCode is kretspan's exit status once Exited is closed (-1: killed by a signal).
func (k *Kretspan) ExitCode() int { return k.cmd.ProcessState.ExitCode() }

// UserSpace parses kretspan's last summary line: what user space received, exported, dropped
// because the export queue was full, and failed to export.
func (k *Kretspan) UserSpace(t testing.TB) (received, exported, dropped, failed uint64) {
	t.Helper()
	s, err := summary.Parse(k.Stderr())
	if err != nil {
		t.Fatalf("%v:\n%s", err, k.Stderr())
	}
	return s.Received, s.UserExported, s.QueueDropped, s.Failed
}

// PeakRSS is kretspan's peak resident memory (VmHWM) so far, in bytes.
func (k *Kretspan) PeakRSS(t testing.TB) uint64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", k.PID()))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", k.PID())
	}
	kb, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return kb << 10
}

// PID is kretspan's process id.
func (k *Kretspan) PID() int { return k.cmd.Process.Pid }

// Stdout and Stderr are what kretspan has written so far.
func (k *Kretspan) Stdout() string { return k.stdout.String() }
func (k *Kretspan) Stderr() string { return k.stderr.String() }

// SyncBuffer is a bytes.Buffer that a process writes while its caller reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
