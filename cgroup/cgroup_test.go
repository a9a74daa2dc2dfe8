package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestV2Mount(t *testing.T) {
	hybrid := `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
35 25 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
40 35 0:37 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
41 35 0:38 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
`
	for _, tc := range []struct{ name, mountinfo, want string }{
		{"hybrid", hybrid, "/sys/fs/cgroup/unified"},
		{"unified", "30 25 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n", "/sys/fs/cgroup"},
		{"optional fields", "30 25 0:26 / /sys/fs/cgroup rw shared:4 master:1 propagate_from:2 - cgroup2 none rw\n", "/sys/fs/cgroup"},
		{"no optional fields", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 none rw\n", "/sys/fs/cgroup"},
		{"an escaped space", `30 25 0:26 / /mnt/cgroup\040two rw - cgroup2 none rw` + "\n", "/mnt/cgroup two"},
		{"the whole hierarchy over a subtree",
			"50 25 0:26 /kubepods.slice /host/pods rw - cgroup2 none rw\n30 25 0:26 / /sys/fs/cgroup rw - cgroup2 none rw\n", "/sys/fs/cgroup"},
		{"only a subtree", "50 25 0:26 /kubepods.slice /host/pods rw - cgroup2 none rw\n", "/host/pods"},
		// In a container with a cgroup namespace: its own hierarchy, and the host's mounted in.
		{"the host's over the namespace's",
			"61 51 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n62 51 0:37 /../../.. /host/sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/host/sys/fs/cgroup"},
		{"a cgroup named ..x is a subtree", "61 51 0:37 /..x /a rw - cgroup2 cgroup2 rw\n62 51 0:37 / /b rw - cgroup2 cgroup2 rw\n", "/b"},
		{"the farthest above the namespace",
			"61 51 0:37 /.. /a rw - cgroup2 cgroup2 rw\n62 51 0:37 /../.. /b rw - cgroup2 cgroup2 rw\n63 51 0:37 /.. /c rw - cgroup2 cgroup2 rw\n", "/b"},
	} {
		got, err := v2Mount(strings.NewReader(tc.mountinfo))
		if got != tc.want || err != nil {
			t.Errorf("%s: v2Mount = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	// cgroup v1 only, and a cgroup2 word where the file system type is not.
	for _, mountinfo := range []string{
		"41 35 0:38 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
		"41 35 0:38 / /cgroup2 rw - tmpfs cgroup2 rw\n",
		"",
	} {
		if got, err := v2Mount(strings.NewReader(mountinfo)); !errors.Is(err, ErrNoV2) {
			t.Errorf("v2Mount(%q) = %q, %v; want ErrNoV2", mountinfo, got, err)
		}
	}
}

// Dir refuses what is not a cgroup v2 directory with a line that says why.
func TestDirRefuses(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, want string }{
		{"", "empty"},
		{"/nonexistent/kretspan", "/nonexistent/kretspan does not exist"},
		{file, "is not a directory"},
		{t.TempDir(), "not in a cgroup v2 hierarchy"},
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.procs"); err == nil {
		cases = append(cases, struct{ path, want string }{"/sys/fs/cgroup/memory", "in a cgroup v1 hierarchy"})
	}
	if _, err := Mount(); err == nil {
		cases = append(cases, struct{ path, want string }{"no-such-cgroup.slice", "no-such-cgroup.slice does not exist"})
	}
	for _, tc := range cases {
		if got, err := Dir(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dir(%q) = %q, %v; want an error saying %q", tc.path, got, err, tc.want)
		}
	}
}

func TestDirAcceptsTheHierarchy(t *testing.T) {
	mount, err := Mount()
	if err != nil {
		t.Skipf("no cgroup v2 here: %v", err)
	}
	for _, path := range []string{mount, mount + "/", ".", "./"} {
		if got, err := Dir(path); got != mount || err != nil {
			t.Errorf("Dir(%q) = %q, %v; want %s", path, got, err, mount)
		}
	}
	entries, err := os.ReadDir(mount)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			// A cgroup as /proc/PID/cgroup names it is a path under the mount, not from /.
			if got, err := Dir(e.Name()); got != filepath.Join(mount, e.Name()) || err != nil {
				t.Errorf("Dir(%q) = %q, %v", e.Name(), got, err)
			}
			if _, err := os.Stat("/" + e.Name()); err != nil {
				if _, err := Dir("/" + e.Name()); err == nil || !strings.Contains(err.Error(), "the cgroup /"+e.Name()+" is "+filepath.Join(mount, e.Name())) {
					t.Errorf("Dir(/%s): %v; want the hint that it is under %s", e.Name(), err, mount)
				}
			}
			break
		}
	}
}
