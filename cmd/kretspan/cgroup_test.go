package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/cgroup"
	"github.com/kretspan/kretspan/cgroup/cgrouptest"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Two workloads in cgroups named as Kubernetes (containerd, systemd driver) and Docker name
// them; --cgroup and --container trace one in the kernel, and the other's calls are counted as
// filtered. The pod's cgroup is a parent of the container's: descendants count.
func TestKernelCgroupAndContainerFilters(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	mount := cgrouptest.Mount(t)

	c := cgrouptest.NewContainers(t, mount)
	inPod, inDocker := startDriver(t, dir), startDriver(t, dir)
	cgrouptest.Enter(t, filepath.Join(mount, c.PodContainer), inPod.PID)
	cgrouptest.Enter(t, filepath.Join(mount, c.DockerContainer), inDocker.PID)
	for w, want := range map[*testprocess.Workload]string{inPod: c.PodContainerID, inDocker: c.DockerID} {
		procCgroup, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", w.PID))
		if got := cgroup.ProcContainerID(string(procCgroup)); err != nil || got != want {
			t.Errorf("process %d: container %q (%v), want %s", w.PID, got, err, want)
		}
	}

	for _, tc := range []struct {
		name            string
		args            []string
		traced, other   *testprocess.Workload
		containerID     string // the container kretspan must say it found
		containerCgroup string
	}{
		{"the pod's cgroup, relative to the mount", []string{"--cgroup", c.Pod}, inPod, inDocker, "", ""},
		{"a Docker container by a prefix of its id", []string{"--container", c.DockerID[:12]}, inDocker, inPod, c.DockerID, c.DockerContainer},
		{"a Kubernetes container as its pod's status names it", []string{"--container", "containerd://" + c.PodContainerID}, inPod, inDocker, c.PodContainerID, c.PodContainer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const traced, other = 3, 7
			receiver := startReceiver(t)
			k := startKretspan(t, dir, append([]string{"--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms"},
				append(tc.args, "syscall:openat")...)...)
			if tc.containerID != "" {
				if want := fmt.Sprintf("kretspan: container %s is cgroup %s\n", tc.containerID, filepath.Join(mount, tc.containerCgroup)); !strings.Contains(k.Stderr(), want) {
					t.Errorf("kretspan did not say %q:\n%s", want, k.Stderr())
				}
			}
			for range other {
				tc.other.Do(t, "open /proc/self/status")
			}
			for range traced {
				tc.traced.Do(t, "open /proc/self/status")
			}
			receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= traced })
			k.Stop(t) // exports everything before it exits: any span of the other workload too
			spans := receiver.Spans()
			if len(spans) != traced {
				t.Errorf("%d spans, want the %d openat calls of process %d alone", len(spans), traced, tc.traced.PID)
			}
			for _, s := range spans {
				if s.Name != "openat" || s.Attr("process.pid") != tc.traced.PID {
					t.Errorf("span %s of process %v (the other workload is %d), want openat of %d only", s.Name, s.Attr("process.pid"), tc.other.PID, tc.traced.PID)
					break
				}
			}
			// Every call enters the probe; those of tasks outside the cgroup are filtered at entry,
			// the other workload's among them, and nothing else is lost.
			row := summaryRow(t, k.Stderr(), "syscall:openat")
			t.Logf("summary row of syscall:openat: %v", row)
			calls, exported, filtered, dropped, missed := row[0], row[1], row[2], row[4], row[5]
			if calls-filtered != traced || exported != traced || filtered < other || dropped != 0 || missed != 0 {
				t.Errorf("summary row %v: want %d calls past the filter, all exported, and at least the other workload's %d filtered", row, traced, other)
			}
		})
	}
}
