// Package cgroup finds cgroup v2 directories and the containers they belong to. It owns where
// the cgroup v2 hierarchy is mounted (from /proc/self/mountinfo), how a path names a cgroup, and
// the one table of the directory names container runtimes give their containers (container.go),
// read both ways: from a cgroup path to a container id, and from a container id to its cgroup.
// IDs (ids.go) finds a cgroup's path by the id the kernel gives it.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MountInfo is where the kernel lists this process's mounts.
const MountInfo = "/proc/self/mountinfo"

// ErrNoV2 says that no cgroup v2 hierarchy is mounted.
var ErrNoV2 = errors.New("no cgroup v2 hierarchy is mounted (no cgroup2 file system in " + MountInfo + ")")

// Mount is where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on most systems, elsewhere
// (such as /sys/fs/cgroup/unified) where cgroup v1 holds /sys/fs/cgroup. Of several mounts, it
// is the one that shows the most of the hierarchy.
func Mount() (string, error) {
	f, err := os.Open(MountInfo)
	if err != nil {
		return "", fmt.Errorf("find the cgroup v2 mount: %w", err)
	}
	defer f.Close()
	return v2Mount(f)
}

// v2Mount reads mountinfo lines ("36 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw")
// and returns the mount point of the cgroup2 file system that shows the most of the hierarchy.
// Its root field says how much: "/" is the root of this process's cgroup namespace, "/.." and
// above reach past it (the host's hierarchy mounted into a container), and "/a/b" is a subtree.
func v2Mount(mountinfo io.Reader) (string, error) {
	var best string
	bestReach := 0
	scanner := bufio.NewScanner(mountinfo)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		if r := reach(unescapeMountField(fields[3])); best == "" || r > bestReach {
			best, bestReach = unescapeMountField(fields[4]), r
		}
	}
	if err := scanner.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", MountInfo, err)
	}
	if best == "" {
		return "", ErrNoV2
	}
	return best, nil
}

// reach ranks a cgroup2 mount's root: the number of levels above the cgroup namespace's root it
// shows (/../..: 2), 0 for the namespace's root, -1 for a subtree.
func reach(root string) int {
	if root == "/" {
		return 0
	}
	n := 0
	for rest := root; rest == "/.." || strings.HasPrefix(rest, "/../"); rest = rest[3:] {
		n++
	}
	if n == 0 {
		return -1
	}
	return n
}

// unescapeMountField undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescapeMountField(field string) string {
	if !strings.Contains(field, `\`) {
		return field
	}
	var b strings.Builder
	for i := 0; i < len(field); i++ {
		if field[i] == '\\' && i+4 <= len(field) {
			if n, err := strconv.ParseUint(field[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(field[i])
	}
	return b.String()
}

// Dir resolves a cgroup as a user names it: a directory of the cgroup v2 hierarchy, a relative
// path taken under the cgroup v2 mount. It returns the directory's clean absolute path.
func Dir(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty cgroup path")
	}
	mount, mountErr := Mount()
	dir := path
	if !filepath.IsAbs(path) {
		if mountErr != nil {
			return "", mountErr
		}
		dir = filepath.Join(mount, path)
	}
	dir = filepath.Clean(dir)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A path as /proc/PID/cgroup shows it starts at the hierarchy's root, not the mount's.
		if filepath.IsAbs(path) && mountErr == nil {
			if within := filepath.Join(mount, path); isDir(within) {
				return "", fmt.Errorf("%s does not exist; the cgroup %s is %s", dir, path, within)
			}
		}
		return "", fmt.Errorf("%s does not exist", dir)
	case err != nil:
		return "", err
	case !info.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		what := "not in a cgroup v2 hierarchy"
		if fs.Type == unix.CGROUP_SUPER_MAGIC {
			what = "in a cgroup v1 hierarchy, not cgroup v2"
		}
		if mountErr == nil {
			return "", fmt.Errorf("%s is %s (cgroup v2 is mounted at %s)", dir, what, mount)
		}
		return "", fmt.Errorf("%s is %s; %w", dir, what, mountErr)
	}
	return dir, nil
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}
