package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/cgroup"
	"github.com/kretspan/kretspan/cgroup/cgrouptest"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// makeCgroups makes each path's directories under mount, the cgroup v2 mount, and removes them
// when the test ends, after moving any process still in them to the root cgroup.
func makeCgroups(t *testing.T, mount string, paths ...string) {
	t.Helper()
	var made []string
	t.Cleanup(func() {
		for _, dir := range slices.Backward(made) {
			removeCgroup(t, mount, dir)
		}
	})
	for _, p := range paths {
		dir := mount
		for _, name := range strings.Split(p, "/") {
			dir = filepath.Join(dir, name)
			if err := os.Mkdir(dir, 0o755); errors.Is(err, os.ErrExist) {
				continue
			} else if err != nil {
				t.Fatal(err)
			}
			made = append(made, dir)
		}
	}
}

// removeCgroup moves the processes left in dir to the root cgroup, and removes dir.
func removeCgroup(t *testing.T, mount, dir string) {
	t.Helper()
	procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, pid := range strings.Fields(string(procs)) {
		if err := os.WriteFile(filepath.Join(mount, "cgroup.procs"), []byte(pid), 0); err != nil {
			t.Errorf("move process %s out of %s: %v", pid, dir, err)
		}
	}
	// A process just moved out or killed may hold the cgroup for a moment.
	var err error
	for range 50 {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("remove cgroup %s: %v", dir, err)
}

// enterCgroup moves a process into a cgroup.
func enterCgroup(t *testing.T, dir string, pid int64) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
		t.Fatalf("move process %d into %s: %v", pid, dir, err)
	}
}

func randomHex(t *testing.T, bytes int) string {
	t.Helper()
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Two workloads in cgroups named as Kubernetes (containerd, systemd driver) and Docker name
// them; --cgroup and --container trace one in the kernel, and the other's calls are counted as
// filtered. The pod's cgroup is a parent of the container's: descendants count.
func TestKernelCgroupAndContainerFilters(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	mount := cgrouptest.Mount(t)

	// Under a root of the test's own, so that nothing of a real Kubernetes or Docker is touched
	// and ids never repeat.
	top := "kretspan-test-" + randomHex(t, 4)
	root := filepath.Join(mount, top)
	podID, dockerID := randomHex(t, 32), randomHex(t, 32)
	uid := randomHex(t, 16)
	uid = strings.Join([]string{uid[:8], uid[8:12], uid[12:16], uid[16:20], uid[20:]}, "_")
	pod := "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid + ".slice"
	podContainer := pod + "/cri-containerd-" + podID + ".scope"
	dockerContainer := "system.slice/docker-" + dockerID + ".scope"
	makeCgroups(t, mount, filepath.Join(top, podContainer), filepath.Join(top, dockerContainer))

	inPod, inDocker := startDriver(t, dir), startDriver(t, dir)
	enterCgroup(t, filepath.Join(root, podContainer), inPod.PID)
	enterCgroup(t, filepath.Join(root, dockerContainer), inDocker.PID)
	for w, want := range map[*testprocess.Workload]string{inPod: podID, inDocker: dockerID} {
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
		{"the pod's cgroup, relative to the mount", []string{"--cgroup", filepath.Join(top, pod)}, inPod, inDocker, "", ""},
		{"a Docker container by a prefix of its id", []string{"--container", dockerID[:12]}, inDocker, inPod, dockerID, dockerContainer},
		{"a Kubernetes container as its pod's status names it", []string{"--container", "containerd://" + podID}, inPod, inDocker, podID, podContainer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const traced, other = 3, 7
			receiver := startReceiver(t)
			k := startKretspan(t, dir, append([]string{"--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms"},
				append(tc.args, "syscall:openat")...)...)
			if tc.containerID != "" {
				if want := fmt.Sprintf("kretspan: container %s is cgroup %s\n", tc.containerID, filepath.Join(root, tc.containerCgroup)); !strings.Contains(k.Stderr(), want) {
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
