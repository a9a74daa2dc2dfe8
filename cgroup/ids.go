package cgroup

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// IDs finds cgroup v2 directories by the kernel's cgroup id, which is the directory's inode
// number on 64-bit systems. A cgroup usually outlives its processes, so a process that has exited
// can still be placed in its container by the id recorded while it ran.
type IDs struct {
	mount   string
	paths   map[uint64]string // by id: the path as /proc/PID/cgroup shows it ("/a/b")
	unknown map[uint64]bool   // ids not found by a walk of the hierarchy since they were first asked for
}

// maxKnownIDs bounds the table: past it, it is walked afresh.
const maxKnownIDs = 1 << 16

// NewIDs finds cgroups in the cgroup v2 hierarchy mounted at mount (Mount's answer).
func NewIDs(mount string) *IDs {
	return &IDs{mount: mount, paths: map[uint64]string{}, unknown: map[uint64]bool{}}
}

// Path is the path of cgroup id under the mount as /proc/PID/cgroup shows it, "" when it is not
// found. An id not yet known walks the hierarchy once; one not found then is not looked for again.
func (c *IDs) Path(id uint64) string {
	if path, ok := c.paths[id]; ok || c.unknown[id] {
		return path
	}
	c.walk()
	path, ok := c.paths[id]
	if !ok {
		if len(c.unknown) >= maxKnownIDs {
			clear(c.unknown)
		}
		c.unknown[id] = true
	}
	return path
}

func (c *IDs) walk() {
	if len(c.paths) >= maxKnownIDs {
		clear(c.paths)
	}
	_ = filepath.WalkDir(c.mount, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // a cgroup removed during the walk, or a control file
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok {
			rel, _ := filepath.Rel(c.mount, path)
			c.paths[sys.Ino] = filepath.Join("/", rel)
		}
		return nil
	})
}
