package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// withCapabilities runs kretspan as root limited to caps (e.g. "+bpf,+perfmon"): setpriv's
// bounding set is what an exec'd root process may hold.
func withCapabilities(dir, caps string, args ...string) []string {
	return append([]string{"--bounding-set=-all," + caps, "--inh-caps=-all", filepath.Join(dir, "kretspan")}, args...)
}

func requireSetpriv(t *testing.T) string {
	t.Helper()
	setpriv, err := exec.LookPath("setpriv")
	if err == nil {
		err = exec.Command(setpriv, "--bounding-set=-all,+bpf,+perfmon", "--inh-caps=-all", "true").Run()
	}
	if err != nil {
		t.Skipf("needs util-linux's setpriv to drop capabilities (%v)", err)
	}
	return setpriv
}

// kretspan runs with CAP_BPF and CAP_PERFMON alone; uprobes need CAP_SYS_ADMIN (the kernel's
// uprobe PMU asks for it), and kretspan says so; without CAP_BPF it names that.
func TestKernelLeastPrivilege(t *testing.T) {
	requireRoot(t)
	setpriv := requireSetpriv(t)
	dir := buildTools(t)

	d := startDriver(t, dir)
	receiver := startReceiver(t)
	k := testprocess.StartKretspan(t, setpriv, nil, withCapabilities(dir, "+bpf,+perfmon",
		"--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(d.PID), "--batch-timeout", "50ms", "syscall:openat")...)
	d.Do(t, "open /nonexistent/kretspan/least-privilege")
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 1 })
	k.Stop(t)
	if len(spans) != 1 || spans[0].Attr("error.type") != "ENOENT" {
		t.Fatalf("with CAP_BPF and CAP_PERFMON: %d spans, want the one failed open", len(spans))
	}

	for _, tc := range []struct{ caps, probe, want string }{
		{"+bpf,+perfmon", "uprobe:" + filepath.Join(dir, "nested") + ":outer", "needs CAP_SYS_ADMIN"},
		{"+perfmon", "syscall:openat", "missing CAP_BPF"},
		{"+bpf", "syscall:openat", "missing CAP_PERFMON"},
	} {
		cmd := exec.Command(setpriv, withCapabilities(dir, tc.caps, "--exporter", "none", "--duration", "1s", tc.probe)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("caps %s, %s: %v, want exit status 1\n%s", tc.caps, tc.probe, err, out)
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("caps %s, %s: output %q, want one line saying %q", tc.caps, tc.probe, out, tc.want)
		}
	}
}

// After SIGKILL, nothing kretspan had in the kernel stays: its programs, links and maps go with
// its file descriptors. (The shared traces_ctx_v1 map is pinned on purpose and stays.)
func TestKernelSIGKILLLeavesNothingAttached(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	binary := filepath.Join(dir, "nested")
	k := startKretspan(t, dir, "--exporter", "none", "syscall:openat", "syscall:read", "uprobe:"+binary+":outer")
	objects := bpfObjectsOf(t, k.PID())
	// Kernels before 5.15 attach tracepoints and uprobes through perf events, not BPF links.
	if len(objects["prog_id"]) == 0 || len(objects["map_id"]) == 0 {
		t.Fatalf("found no programs or maps in kretspan's descriptors: %v", objects)
	}
	process, _ := os.FindProcess(k.PID())
	process.Signal(syscall.SIGKILL)

	var pinnedID ebpf.MapID
	if pinned, err := ebpf.LoadPinnedMap("/sys/fs/bpf/otel/traces_ctx_v1", nil); err == nil {
		info, _ := pinned.Info()
		pinnedID, _ = info.ID()
		pinned.Close()
	}
	// The kernel frees programs, links and maps after RCU grace periods and deferred work.
	deadline := time.Now().Add(15 * time.Second)
	waitGone := func(kind string, id uint32, exists func() bool) {
		for exists() {
			if time.Now().After(deadline) {
				t.Errorf("%s %d still exists after SIGKILL", kind, id)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, id := range objects["link_id"] {
		waitGone("link", id, func() bool { return closeIfOpened(link.NewFromID(link.ID(id))) })
	}
	for _, id := range objects["prog_id"] {
		waitGone("program", id, func() bool { return closeIfOpened(ebpf.NewProgramFromID(ebpf.ProgramID(id))) })
	}
	for _, id := range objects["map_id"] {
		if ebpf.MapID(id) != pinnedID {
			waitGone("map", id, func() bool { return closeIfOpened(ebpf.NewMapFromID(ebpf.MapID(id))) })
		}
	}
	if events, err := os.ReadFile("/sys/kernel/tracing/uprobe_events"); err == nil && strings.Contains(string(events), binary) {
		t.Errorf("a tracefs uprobe event on %s stays after SIGKILL:\n%s", binary, events)
	}
}

// closeIfOpened reports whether an object could be opened by its id, closing it.
func closeIfOpened[T interface{ Close() error }](object T, err error) bool {
	if err != nil {
		return false
	}
	object.Close()
	return true
}

// bpfObjectsOf reads, from a process's /proc/PID/fdinfo, the ids of the BPF programs, maps and
// links it holds.
func bpfObjectsOf(t *testing.T, pid int) map[string][]uint32 {
	t.Helper()
	fdinfo, err := filepath.Glob(fmt.Sprintf("/proc/%d/fdinfo/*", pid))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string][]uint32{}
	for _, file := range fdinfo {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			key, value, ok := strings.Cut(line, ":")
			if !ok || (key != "prog_id" && key != "link_id" && key != "map_id") {
				continue
			}
			if id, err := strconv.ParseUint(strings.TrimSpace(value), 10, 32); err == nil && !slices.Contains(ids[key], uint32(id)) {
				ids[key] = append(ids[key], uint32(id))
			}
		}
	}
	return ids
}

// SIGTERM, as from an init system or Kubernetes, ends a run like SIGINT: what is queued is
// exported, the probes are detached, the summary printed, exit status 0.
func TestKernelSIGTERMExportsWhatIsQueued(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver := startReceiver(t)
	// A batch timeout far longer than the test: only the shutdown can send these spans.
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(d.PID), "--batch-timeout", "1h", "--metrics-interval", "0", "syscall:openat")
	for range 5 {
		d.Do(t, "open /nonexistent/kretspan/sigterm")
	}
	time.Sleep(300 * time.Millisecond) // past the ring reader's poll
	if n := len(receiver.Spans()); n != 0 {
		t.Fatalf("%d spans exported before SIGTERM despite the batch timeout", n)
	}
	stopped := time.Now()
	k.Signal(t, syscall.SIGTERM)
	t.Logf("kretspan exited %v after SIGTERM", time.Since(stopped).Round(time.Millisecond))
	if n := len(receiver.Spans()); n != 5 {
		t.Errorf("%d spans exported at SIGTERM, want the 5 queued:\n%s", n, k.Stderr())
	}
}
