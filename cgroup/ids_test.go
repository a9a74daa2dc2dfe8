package cgroup

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A cgroup's id is its directory's inode number: IDs finds directories by it, those made after a
// first walk too.
func TestIDs(t *testing.T) {
	mount := t.TempDir()
	inode := func(dir string) uint64 {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(mount, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(filepath.Join(mount, dir))
		if err != nil {
			t.Fatal(err)
		}
		return info.Sys().(*syscall.Stat_t).Ino
	}
	ids := NewIDs(mount)
	pod := inode("kubepods.slice/kubepods-pod1.slice")
	if got := ids.Path(pod); got != "/kubepods.slice/kubepods-pod1.slice" {
		t.Errorf("Path = %q, want /kubepods.slice/kubepods-pod1.slice", got)
	}
	if got := ids.Path(inode(".")); got != "/" {
		t.Errorf("Path of the root = %q, want /", got)
	}
	later := inode("system.slice/docker-1.scope")
	if got := ids.Path(later); got != "/system.slice/docker-1.scope" {
		t.Errorf("Path of a cgroup made after the first walk = %q", got)
	}
	if got := ids.Path(1 << 62); got != "" || !ids.unknown[1<<62] {
		t.Errorf("Path of no cgroup = %q, want \"\", remembered as unknown", got)
	}
}
