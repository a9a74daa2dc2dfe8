// Package cgrouptest gives tests the cgroup v2 hierarchy to make and name cgroups in.
package cgrouptest

import (
	"os"
	"testing"

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
