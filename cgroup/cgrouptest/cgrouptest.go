// Package cgrouptest gives tests the cgroup v2 hierarchy to make and name cgroups in.
package cgrouptest

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
)

// Mount returns the cgroup v2 mount for a test that makes or names cgroups. A kernel-matrix
// guest mounts none: there the test mounts one at /sys/fs/cgroup, as an init system would, for
// the test's duration. Elsewhere, without one, the test is skipped.
func Mount(t testing.TB) string {
	t.Helper()
	mount, err := cgroup.Mount()
	if err == nil {
		return mount
	}
	if os.Getenv("KRETSPAN_VMTEST") == "" {
		t.Skipf("%v: this test needs the cgroup v2 hierarchy", err)
	}
	const dir = "/sys/fs/cgroup"
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		t.Skipf("no cgroup v2 hierarchy in this guest, and mounting one at %s failed: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Make makes each path's directories under mount, the cgroup v2 mount, and removes them when the
// test ends, after moving any process still in them to the root cgroup.
func Make(t testing.TB, mount string, paths ...string) {
	t.Helper()
	var made []string
	t.Cleanup(func() {
		for _, dir := range slices.Backward(made) {
			remove(t, mount, dir)
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

// remove moves the processes left in dir to the root cgroup, and removes dir.
func remove(t testing.TB, mount, dir string) {
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

// Enter moves a process into a cgroup.
func Enter(t testing.TB, dir string, pid int64) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(pid)), 0); err != nil {
		t.Fatalf("move process %d into %s: %v", pid, dir, err)
	}
}

// RandomHex is bytes random bytes in hex: ids of containers and pods that never repeat.
func RandomHex(t testing.TB, bytes int) string {
	t.Helper()
	b := make([]byte, bytes)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Containers are the cgroups of two containers as their runtimes name them, relative to the
// cgroup v2 mount, under a root of the test's own so that nothing of a real Kubernetes or Docker
// is touched: one of containerd in a Kubernetes pod (the kubelet's systemd driver), and one of
// Docker (systemd driver).
type Containers struct {
	Root                      string // every cgroup below is under it
	PodUID, Pod               string // the pod's UID, as the API server spells it, and its cgroup
	PodContainerID            string
	PodContainer              string
	DockerID, DockerContainer string
}

// NewContainers names the cgroups of a fresh Containers, and makes them for the test's duration.
func NewContainers(t testing.TB, mount string) Containers {
	t.Helper()
	var c Containers
	c.Root = "kretspan-test-" + RandomHex(t, 4)
	c.PodContainerID, c.DockerID = RandomHex(t, 32), RandomHex(t, 32)
	uid := RandomHex(t, 16)
	c.PodUID = strings.Join([]string{uid[:8], uid[8:12], uid[12:16], uid[16:20], uid[20:]}, "-")
	c.Pod = filepath.Join(c.Root, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"+strings.ReplaceAll(c.PodUID, "-", "_")+".slice")
	c.PodContainer = filepath.Join(c.Pod, "cri-containerd-"+c.PodContainerID+".scope")
	c.DockerContainer = filepath.Join(c.Root, "system.slice/docker-"+c.DockerID+".scope")
	Make(t, mount, c.PodContainer, c.DockerContainer)
	return c
}
