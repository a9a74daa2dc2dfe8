package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// With no collector listening, --duration ends the run and the shutdown gives up after
// --shutdown-timeout (5s by default) in all: kretspan exits within 10s, with status 1 because
// spans were lost, every stderr line its own, and the ledger balanced.
func TestShutdownWithoutCollectorIsBounded(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	start := time.Now()
	k := startKretspan(t, dir, "--duration", "2s", "--otlp-endpoint", unusedEndpoint(t), "--pid", fmt.Sprint(d.PID), "syscall:openat")
	code := openUntilExit(t, d, k, start.Add(10*time.Second))
	t.Logf("kretspan exited with status %d after %v", code, time.Since(start).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("exit status %d, want 1: spans were not exported\n%s", code, k.Stderr())
	}
	checkShutdownOutput(t, k.Stderr(), "syscall:openat")
}

// A second SIGINT during the shutdown stops waiting for exports at once, however long
// --shutdown-timeout is; the summary is still printed.
func TestSecondSignalEndsShutdown(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	k := startKretspan(t, dir, "--shutdown-timeout", "60s", "--otlp-endpoint", unusedEndpoint(t), "--pid", fmt.Sprint(d.PID), "syscall:openat")
	for range 100 {
		d.Do(t, "open /etc/hostname")
	}
	time.Sleep(300 * time.Millisecond) // a batch times out and goes to the unreachable collector
	k.SendSignal(syscall.SIGINT)
	time.Sleep(300 * time.Millisecond)
	second := time.Now()
	k.SendSignal(syscall.SIGINT)
	select {
	case <-k.Exited():
	case <-time.After(5 * time.Second):
		t.Fatalf("kretspan did not exit within 5s of the second SIGINT:\n%s", k.Stderr())
	}
	t.Logf("kretspan exited %v after the second SIGINT", time.Since(second).Round(time.Millisecond))
	if code := k.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1: spans were abandoned\n%s", code, k.Stderr())
	}
	checkShutdownOutput(t, k.Stderr(), "syscall:openat")
}

// A backend that stores only traces (Jaeger) answers metrics exports with Unimplemented:
// kretspan says so once and sends no more metrics, while spans go on being exported.
func TestBackendRefusingMetricsGetsOneNote(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver, err := otlpreceiver.Start(otlpreceiver.WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(receiver.Stop)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--metrics-interval", "200ms", "--pid", fmt.Sprint(d.PID), "syscall:openat")
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		d.Do(t, "open /etc/hostname")
		time.Sleep(10 * time.Millisecond)
	}
	k.Stop(t)
	stderr := k.Stderr()
	if n := strings.Count(stderr, "does not accept metrics"); n != 1 {
		t.Errorf("%d notes that the endpoint does not accept metrics, want 1:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "kretspan: the OTLP endpoint "+receiver.Endpoint()+" does not accept metrics (Unimplemented)") {
		t.Errorf("no note naming the endpoint and Unimplemented:\n%s", stderr)
	}
	if len(receiver.Spans()) == 0 {
		t.Errorf("no spans exported:\n%s", stderr)
	}
	checkShutdownOutput(t, stderr, "syscall:openat")
}

// unusedEndpoint is an OTLP endpoint on a loopback port with nothing listening.
func unusedEndpoint(t *testing.T) string {
	t.Helper()
	return "http://" + freeLoopbackAddress(t)
}

// openUntilExit has the driver open files until kretspan exits, which must be before deadline,
// and returns its exit status.
func openUntilExit(t *testing.T, d *testprocess.Workload, k *testprocess.Kretspan, deadline time.Time) int {
	t.Helper()
	for {
		select {
		case <-k.Exited():
			return k.ExitCode()
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kretspan has not exited by %v:\n%s", deadline.Format(time.TimeOnly), k.Stderr())
		}
		d.Do(t, "open /etc/hostname")
		time.Sleep(2 * time.Millisecond)
	}
}

// checkShutdownOutput asserts that every stderr line is kretspan's ("kretspan: ...") or part of
// the histograms and summary, and that the summary's ledger balances.
func checkShutdownOutput(t *testing.T, stderr string, labels ...string) {
	t.Helper()
	for line := range strings.Lines(stderr) {
		line = strings.TrimSuffix(line, "\n")
		ok := line == "" || strings.HasPrefix(line, "kretspan: ") || strings.HasPrefix(line, " ") ||
			strings.HasPrefix(line, "kernel: ") || strings.HasPrefix(line, "user space: ") || strings.HasPrefix(line, "processes: ")
		for _, label := range labels {
			ok = ok || line == label // a histogram's title
		}
		if !ok {
			t.Errorf("stderr line %q is neither kretspan's nor the summary's", line)
		}
	}
	s, err := summary.Parse(stderr)
	if err != nil {
		t.Fatalf("%v:\n%s", err, stderr)
	}
	if s.Received == 0 || s.Received != s.UserExported+s.QueueDropped+s.Failed {
		t.Errorf("user space received %d = exported %d + dropped %d + failed %d? want some, balanced\n%s",
			s.Received, s.UserExported, s.QueueDropped, s.Failed, stderr)
	}
	t.Logf("user space: %d received, %d exported, %d dropped, %d failed", s.Received, s.UserExported, s.QueueDropped, s.Failed)
}
