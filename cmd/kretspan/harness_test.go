package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Root integration tests: the real kretspan binary traces real workloads on this kernel and
// exports to a real OTLP gRPC receiver.

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// buildTools builds kretspan and the workloads once per test binary. Where there is no toolchain
// (inside the kernel-matrix VMs), KRETSPAN_TEST_BIN_DIR names a folder of prebuilt static ones.
func buildTools(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("KRETSPAN_TEST_BIN_DIR"); dir != "" {
		return dir
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kretspan-test-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.dir = dir
		for _, cmd := range [][]string{
			{"go", "build", "-o", filepath.Join(dir, "kretspan"), "."},
			{"go", "build", "-o", filepath.Join(dir, "gonested"), "./testdata/gonested"},
			{"go", "build", "-o", filepath.Join(dir, "httpservice"), "../../examples/httpservice"},
			{"cc", "-O2", "-Wall", "-Werror", "-o", filepath.Join(dir, "bindc"), "testdata/bindc.c"},
			{"cc", "-g", "-O2", "-Wall", "-Werror", "-o", filepath.Join(dir, "nested"), "testdata/nested.c"},
			{"cc", "-O2", "-Wall", "-Werror", "-pthread", "-o", filepath.Join(dir, "driver"), "testdata/driver.c"},
		} {
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			if err != nil {
				buildOnce.err = fmt.Errorf("%s: %v\n%s", strings.Join(cmd, " "), err, out)
				return
			}
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.dir
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs (run as root, as .ci/run does)")
	}
}

// kretspanRun is a running kretspan process.
type kretspanRun struct {
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	stderr  *lockedBuffer
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startKretspan starts kretspan and waits until it has attached.
func startKretspan(t *testing.T, dir string, args ...string) *kretspanRun {
	t.Helper()
	r := &kretspanRun{stderr: &lockedBuffer{}}
	r.cmd = exec.Command(filepath.Join(dir, "kretspan"), args...)
	r.cmd.Stdout = &r.stdout
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func() {
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.exited
	})
	// Emulated kernels (make vmtest) attach more slowly.
	wait := 20 * time.Second
	if os.Getenv("KRETSPAN_VMTEST") != "" {
		wait = 2 * time.Minute
	}
	start := time.Now()
	deadline := start.Add(wait)
	for !strings.Contains(r.stderr.String(), "kretspan: tracing") {
		select {
		case <-r.exited:
			t.Fatalf("kretspan exited (%v) before attaching:\n%s", r.waitErr, r.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kretspan did not attach within %v:\n%s", wait, r.stderr.String())
		}
	}
	t.Logf("kretspan attached in %v", time.Since(start).Round(time.Millisecond))
	return r
}

// stop sends SIGINT and waits for a clean exit.
func (r *kretspanRun) stop(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGINT)
	<-r.exited
	if r.waitErr != nil {
		t.Fatalf("kretspan exited with %v:\n%s", r.waitErr, r.stderr.String())
	}
}

// workloadCall is one outer() call as the workload timed it.
type workloadCall struct {
	before, after int64 // CLOCK_REALTIME ns
	ret           int64
}

type workload struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stdout   *bufio.Reader
	pid, tid int64
}

func startWorkload(t *testing.T, path string, args ...string) *workload {
	t.Helper()
	w := &workload{cmd: exec.Command(path, args...)}
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.stdout = bufio.NewReader(out)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Kill() })
	line, err := w.stdout.ReadString('\n')
	if _, scanErr := fmt.Sscanf(line, "ready %d %d", &w.pid, &w.tid); err != nil || scanErr != nil {
		t.Fatalf("workload said %q: %v %v", line, err, scanErr)
	}
	return w
}

// run lets the workload make its calls and returns them.
func (w *workload) run(t *testing.T) []workloadCall {
	t.Helper()
	fmt.Fprintln(w.stdin, "go")
	var calls []workloadCall
	for {
		line, err := w.stdout.ReadString('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var c workloadCall
		if _, err := fmt.Sscanf(line, "call %d %d %d", &c.before, &c.after, &c.ret); err != nil {
			t.Fatalf("workload line %q: %v", line, err)
		}
		calls = append(calls, c)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	return calls
}

// driver is testdata/driver.c, running: the tests send it commands one at a time.
type driver struct {
	*workload
}

func startDriver(t *testing.T, dir string) driver {
	t.Helper()
	return driver{startWorkload(t, filepath.Join(dir, "driver"))}
}

// do sends one command and returns the driver's answer.
func (d driver) do(t *testing.T, command string) string {
	t.Helper()
	fmt.Fprintln(d.stdin, command)
	line, err := d.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("driver: %s: %v", command, err)
	}
	return strings.TrimSpace(line)
}

// kernelSupports runs kretspan check and reports whether the named feature is there.
func kernelSupports(t *testing.T, dir, feature string) bool {
	t.Helper()
	out, err := exec.Command(filepath.Join(dir, "kretspan"), "check").Output()
	if err != nil {
		t.Fatalf("kretspan check: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if name, status, ok := strings.Cut(line, "  "); ok && name == feature {
			return strings.HasPrefix(strings.TrimSpace(status), "yes")
		}
	}
	t.Fatalf("kretspan check does not report %q:\n%s", feature, out)
	return false
}
