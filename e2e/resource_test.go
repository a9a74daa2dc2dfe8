package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kretspan/kretspan/cgroup/cgrouptest"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Two workloads, each naming its own service in OTEL_SERVICE_NAME, one in a Kubernetes pod's
// container and one in a Docker container (cgroups the test makes as those runtimes name them),
// traced by one kretspan: Jaeger holds them as two services, each with its own process and
// container. Then --cgroup on the pod keeps the one and filters the other in the kernel.
func TestProcessesAsServicesInJaeger(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	mount := cgrouptest.Mount(t)
	kretspanBin, _ := build(t)
	driver := filepath.Join(filepath.Dir(kretspanBin), "driver")
	assets, _ := uiAssets(t)
	j := startJaeger(t, jaegerBin, assets)

	c := cgrouptest.NewContainers(t, mount)
	unique := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	podService, dockerService := "checkout-"+unique, "inventory-"+unique
	inPod := testprocess.StartWorkloadEnv(t, driver, []string{"OTEL_SERVICE_NAME=" + podService})
	inDocker := testprocess.StartWorkloadEnv(t, driver, []string{"OTEL_SERVICE_NAME=" + dockerService})
	cgrouptest.Enter(t, filepath.Join(mount, c.PodContainer), inPod.PID)
	cgrouptest.Enter(t, filepath.Join(mount, c.DockerContainer), inDocker.PID)

	// kretspan names no service of its own: blank counts as unset.
	noServiceName := []string{"OTEL_SERVICE_NAME=", "OTEL_RESOURCE_ATTRIBUTES="}
	const opens = 3
	trace := func(cgroup string) *testprocess.Kretspan {
		k := testprocess.StartKretspan(t, kretspanBin, noServiceName,
			"--otlp-endpoint", j.otlpEndpoint, "--batch-timeout", "50ms", "--cgroup", cgroup, "syscall:openat")
		for range opens {
			inPod.Do(t, "open /proc/self/status")
			inDocker.Do(t, "open /proc/self/status")
		}
		k.Stop(t)
		return k
	}

	// Both workloads' cgroups are under the test's root.
	k := trace(c.Root)
	checkService(t, j, podService, opens, inPod.PID, map[string]string{"container.id": c.PodContainerID, "k8s.pod.uid": c.PodUID})
	checkService(t, j, dockerService, opens, inDocker.PID, map[string]string{"container.id": c.DockerID})
	t.Logf("kretspan:\n%s", k.Stderr())

	// Only the pod: the Docker container's calls are filtered in the kernel, and counted so.
	k = trace(c.Pod)
	checkService(t, j, podService, 2*opens, inPod.PID, map[string]string{"container.id": c.PodContainerID, "k8s.pod.uid": c.PodUID})
	checkService(t, j, dockerService, opens, inDocker.PID, map[string]string{"container.id": c.DockerID})
	s, err := summary.Parse(k.Stderr())
	if err != nil {
		t.Fatal(err)
	}
	row, err := s.Row("syscall:openat")
	if err != nil {
		t.Fatal(err)
	}
	if row.Exported != opens || row.Filtered < opens {
		t.Errorf("with --cgroup %s: %+v; want the pod's %d calls exported and at least the Docker container's %d filtered", c.Pod, row, opens, opens)
	}
}

// checkService waits until Jaeger holds want openat spans of service, then checks there are
// exactly that many and that their process in Jaeger is the workload's, in its container.
func checkService(t *testing.T, j *jaeger, service string, want int, pid int64, container map[string]string) {
	t.Helper()
	traces := j.waitForSpans(t, service, want, 20*time.Second)
	time.Sleep(300 * time.Millisecond) // a span beyond want would show up too
	if again, err := j.traces(service); err == nil {
		traces = again
	}
	n := 0
	for _, tr := range traces {
		for _, s := range tr.Spans {
			n++
			p := tr.Processes[s.ProcessID]
			wantTags := map[string]string{"process.pid": strconv.FormatInt(pid, 10), "process.parent_pid": strconv.Itoa(os.Getpid()),
				"process.executable.name": "driver"}
			for k, v := range container {
				wantTags[k] = v
			}
			for k, v := range wantTags {
				if got, ok := tag(p.Tags, k); p.ServiceName != service || !ok || got != v {
					t.Errorf("service %s: span %s of process %q has %s = %q (present %v), want %q", service, s.OperationName, p.ServiceName, k, got, ok, v)
				}
			}
			if s.OperationName != "openat" {
				t.Errorf("service %s: a %s span, want openat only", service, s.OperationName)
			}
		}
	}
	if n != want {
		t.Errorf("Jaeger holds %d spans of service %s, want %d", n, service, want)
	}
}
