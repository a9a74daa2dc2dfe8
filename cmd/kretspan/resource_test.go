package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/cgroup/cgrouptest"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Two workloads, one in a container of a Kubernetes pod (containerd, systemd driver) that names
// its service in its environment, one in a Docker container that names none: each span's
// resource is its own process's, as the workload and the cgroups the test made say.
func TestKernelProcessResources(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	mount := cgrouptest.Mount(t)

	c := cgrouptest.NewContainers(t, mount)

	driver := filepath.Join(dir, "driver")
	inPod := testprocess.StartWorkloadEnv(t, driver, []string{"OTEL_SERVICE_NAME=checkout"})
	inDocker := testprocess.StartWorkloadEnv(t, driver, []string{"OTEL_SERVICE_NAME=", "OTEL_RESOURCE_ATTRIBUTES="})
	cgrouptest.Enter(t, filepath.Join(mount, c.PodContainer), inPod.PID)
	cgrouptest.Enter(t, filepath.Join(mount, c.DockerContainer), inDocker.PID)

	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms", "--cgroup", c.Root, "syscall:openat")
	const opens = 3
	for range opens {
		inPod.Do(t, "open /proc/self/status")
		inDocker.Do(t, "open /proc/self/status")
	}
	start := time.Now()
	receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2*opens })
	t.Logf("spans after %v", time.Since(start))
	k.Stop(t)

	executable, err := filepath.EvalSymlinks(driver)
	if err != nil {
		t.Fatal(err)
	}
	owner := "0"
	if u, err := user.LookupId("0"); err == nil {
		owner = u.Username
	}
	want := map[int64]map[string]any{
		inPod.PID:    {"service.name": "checkout", "container.id": c.PodContainerID, "k8s.pod.uid": c.PodUID},
		inDocker.PID: {"service.name": "driver", "container.id": c.DockerID, "k8s.pod.uid": nil},
	}
	for pid, w := range want {
		w["process.pid"], w["process.parent_pid"] = pid, int64(os.Getpid())
		w["process.executable.path"], w["process.executable.name"], w["process.owner"] = executable, "driver", owner
		w["process.command_line"] = nil // only with --process-command-line
	}
	spans := receiver.Spans()
	if len(spans) != 2*opens {
		t.Errorf("%d spans, want the %d openat calls of the two workloads", len(spans), 2*opens)
	}
	for _, s := range spans {
		pid, _ := s.Attr("process.pid").(int64)
		w, ok := want[pid]
		if !ok {
			t.Errorf("span %s of process %d, not a workload's", s.Name, pid)
			continue
		}
		for key, value := range w {
			if s.Resource[key] != value {
				t.Errorf("process %d: resource %s = %v, want %v\n%v", pid, key, s.Resource[key], value, s.Resource)
			}
		}
		if s.Resource["host.name"] == nil || s.Resource["telemetry.distro.name"] != "kretspan" {
			t.Errorf("process %d: the host's attributes are missing: %v", pid, s.Resource)
		}
	}
	services, processes, err := summary.ParseServices(k.Stderr())
	if err != nil {
		t.Fatal(err)
	}
	if len(services) != 2 || services[0] != (summary.ServiceSpans{Service: "checkout", Exported: opens}) && services[0] != (summary.ServiceSpans{Service: "driver", Exported: opens}) || processes.Read != 2 {
		t.Errorf("services %v, processes %+v; want %d spans of checkout and of driver, two processes read", services, processes, opens)
	}
}

// --service-name, and --process-command-line: one service for every span, and each process's
// command line.
func TestKernelServiceNameAndCommandLine(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	w := testprocess.StartWorkloadEnv(t, filepath.Join(dir, "driver"), []string{"OTEL_SERVICE_NAME=checkout"}, "an-argument")
	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms", "--pid", strconv.FormatInt(w.PID, 10),
		"--service-name", "node-calls", "--process-command-line", "syscall:openat")
	w.Do(t, "open /proc/self/status")
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 1 })
	k.Stop(t)
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	wantLine := filepath.Join(dir, "driver") + " an-argument"
	if r := spans[0].Resource; r["service.name"] != "node-calls" || r["process.command_line"] != wantLine || r["process.pid"] != w.PID {
		t.Errorf("resource %v; want service.name node-calls, process.command_line %q, process.pid %d", r, wantLine, w.PID)
	}
}

// Process churn: a workload in a Kubernetes-named container cgroup forks children one after
// another, each executing a program that makes one traced call and exits at once, nearly always
// before kretspan reads its record. Every span carries its own process's resource as the workload
// made it (pid, parent, executable, the service named in its environment, container, pod), each
// process is read once, and once they have all exited and their spans are exported, the cache
// holds none of them.
func TestKernelProcessChurn(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	mount := cgrouptest.Mount(t)
	const children = 300
	checkChurn(t, dir, mount, children)
}

// checkChurn traces n short-lived children of a workload in a cgroup of their own, and checks
// their spans' resources and the cache of processes; it returns kretspan, stopped.
func checkChurn(t *testing.T, dir, mount string, n int) *testprocess.Kretspan {
	t.Helper()
	containers := cgrouptest.NewContainers(t, mount)
	group := containers.PodContainer
	w := startDriver(t, dir)
	cgrouptest.Enter(t, filepath.Join(mount, group), w.PID)
	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms", "--cgroup", group, "syscall:getppid")
	executable, err := filepath.EvalSymlinks(filepath.Join(dir, "driver"))
	if err != nil {
		t.Fatal(err)
	}
	service := "churn-" + cgrouptest.RandomHex(t, 4)

	line := w.Do(t, fmt.Sprint("churn ", n, " ", service))
	fields := strings.Fields(line)
	if len(fields) != n+1 || fields[0] != "churned" {
		t.Fatalf("the workload said %.200q, want %d children", line, n)
	}
	children := map[int64]bool{}
	for _, f := range fields[1:] {
		pid, err := strconv.ParseInt(f, 10, 64)
		if err != nil || pid <= 0 {
			t.Fatalf("the workload could not fork: %q", f)
		}
		children[pid] = true
	}
	receiver.WaitFor(30*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= n })
	// Two sweeps of the cache after the last export: the first finds the children gone, the
	// second drops them.
	time.Sleep(3 * time.Second)
	peakRSS := k.PeakRSS(t)
	k.Stop(t)
	spans := receiver.Spans()

	seen := map[int64]bool{}
	for _, s := range spans {
		pid, _ := s.Attr("process.pid").(int64)
		if !children[pid] || seen[pid] {
			t.Fatalf("span of process %d: not a child, or its second span", pid)
		}
		seen[pid] = true
		// Read from /proc before the child exited, or from its exec record after: the same.
		r := s.Resource
		if r["process.pid"] != pid || r["service.name"] != service || r["process.parent_pid"] != w.PID ||
			r["process.executable.name"] != "driver" || r["process.executable.path"] != executable ||
			r["container.id"] != containers.PodContainerID || r["k8s.pod.uid"] != containers.PodUID {
			t.Fatalf("child %d's span has the resource %v, want its own pid, the service %s, its parent %d, the executable %s, the container %s and the pod %s",
				pid, r, service, w.PID, executable, containers.PodContainerID, containers.PodUID)
		}
	}
	if len(spans) != n {
		t.Errorf("%d spans, want one per child: %d", len(spans), n)
	}
	_, processes, err := summary.ParseServices(k.Stderr())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d children; processes %+v; peak RSS %d KiB", n, processes, peakRSS>>10)
	if processes.Read != uint64(n) || processes.Cached != 0 || processes.LostExecRecords != 0 {
		t.Errorf("processes %+v: want each of the %d children read once, none cached once they exited and were exported, no exec record lost", processes, n)
	}
	return k
}
