package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// TestDemoStopsOnSignal runs make demo's script as a terminal would and stops it the two ways a
// user does: Ctrl-C, which the terminal sends to the whole foreground process group, and SIGTERM
// to that group. Either way the demo must exit 0 after kretspan's summary, and leave no Jaeger
// behind: a Jaeger still holding the ports makes the next make demo refuse to start.
func TestDemoStopsOnSignal(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			runDemoUntilSignal(t, jaegerBin, sig)
		})
	}
}

func runDemoUntilSignal(t *testing.T, jaegerBin string, sig syscall.Signal) {
	ports := freePorts(t, 4)
	runDir := t.TempDir()
	cmd := exec.Command("bash", "scripts/demo.sh")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(),
		"JAEGER_BIN="+jaegerBin,
		"DEMO_RUN_DIR="+runDir,
		"JAEGER_OTLP_GRPC_PORT="+strconv.Itoa(ports[0]),
		"JAEGER_OTLP_HTTP_PORT="+strconv.Itoa(ports[1]),
		"JAEGER_QUERY_HTTP_PORT="+strconv.Itoa(ports[2]),
		"JAEGER_QUERY_GRPC_PORT="+strconv.Itoa(ports[3]),
	)
	// Its own process group, as a shell gives a foreground job: the signal goes to all of it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var output testprocess.SyncBuffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		exec.Command(filepath.Join(repoRoot(t), "tools/jaeger/stop.sh"), runDir).Run()
	})

	deadline := time.After(3 * time.Minute) // builds kretspan and the example service first
	for _, ready := summary.Ready(output.String()); !ready; _, ready = summary.Ready(output.String()) {
		select {
		case err := <-exited:
			t.Fatalf("the demo exited (%v) before kretspan attached:\n%s", err, output.String())
		case <-deadline:
			t.Fatalf("kretspan did not attach within 3 minutes:\n%s", output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	jaegerPID := readPID(t, filepath.Join(runDir, "jaeger.pid"))
	time.Sleep(2 * time.Second) // let some spans flow

	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after %s the demo exited with %v, want status 0:\n%s", unix.SignalName(sig), err, output.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the demo did not exit within 60 s of %s:\n%s", unix.SignalName(sig), output.String())
	}
	if !strings.Contains(output.String(), "user space:") {
		t.Errorf("kretspan's summary is missing from the demo's output:\n%s", output.String())
	}
	if err := waitGone(jaegerPID, 15*time.Second); err != nil {
		t.Errorf("Jaeger (pid %d) %v after the demo exited:\n%s", jaegerPID, err, output.String())
	}
	for _, port := range ports {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Errorf("port %d is still taken after the demo exited: %v", port, err)
			continue
		}
		l.Close()
	}
	if _, err := os.Stat(filepath.Join(runDir, "jaeger.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo left Jaeger's pid file behind (%v)", err)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// waitGone waits for a process to be gone (or a zombie, which holds no ports).
func waitGone(pid int, wait time.Duration) error {
	for start := time.Now(); time.Since(start) < wait; time.Sleep(100 * time.Millisecond) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		if fields := strings.Fields(string(status)); len(fields) > 2 && fields[2] == "Z" {
			return nil
		}
	}
	return fmt.Errorf("is still running %v", wait)
}
