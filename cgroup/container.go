package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
)

// A container id is 64 hex digits in every runtime below.
const hexID = `[0-9a-f]{64}`

// containerNames are the cgroup directory names container runtimes give a container, one row
// per form; the container id is the name pattern's first group. A name says a directory is a
// container's only on its own (or with its parent's name, for the bare-id forms): the conmon
// monitors' scopes (crio-conmon-ID.scope, libpod-conmon-ID.scope) do not match, and the cgroups
// a container makes inside its own are not containers.
var containerNames = []struct {
	name, parent *regexp.Regexp // parent nil: any
}{
	// containerd's CRI plugin (Kubernetes), systemd driver:
	// /kubepods.slice/kubepods-QOS.slice/kubepods-QOS-podUID.slice/cri-containerd-ID.scope
	{name: regexp.MustCompile(`^cri-containerd-(` + hexID + `)\.scope$`)},
	// cri-o: crio-ID.scope with the systemd driver, crio-ID with cgroupfs.
	{name: regexp.MustCompile(`^crio-(` + hexID + `)(?:\.scope)?$`)},
	// docker, systemd driver: /system.slice/docker-ID.scope (and under kubepods with dockershim).
	{name: regexp.MustCompile(`^docker-(` + hexID + `)\.scope$`)},
	// podman: libpod-ID.scope with the systemd driver, libpod-ID with cgroupfs.
	{name: regexp.MustCompile(`^libpod-(` + hexID + `)(?:\.scope)?$`)},
	// docker, cgroupfs driver: /docker/ID.
	{name: regexp.MustCompile(`^(` + hexID + `)$`), parent: regexp.MustCompile(`^docker$`)},
	// Kubernetes, cgroupfs driver: /kubepods[/QOS]/podUID/ID. UIDs are UUIDs, or 32 hex digits
	// for static pods.
	{name: regexp.MustCompile(`^(` + hexID + `)$`), parent: regexp.MustCompile(`^pod[0-9a-f-]{32,36}$`)},
}

// nameID is the id of the container whose cgroup directory is called name, under parent; "" if
// the name is not a container's.
func nameID(parent, name string) string {
	for _, row := range containerNames {
		if m := row.name.FindStringSubmatch(name); m != nil && (row.parent == nil || row.parent.MatchString(parent)) {
			return m[1]
		}
	}
	return ""
}

// ContainerID is the id of the container a cgroup path belongs to, the innermost one when
// containers nest; "" when the path is no container's. The path is as /proc/PID/cgroup shows it
// (/system.slice/docker-ID.scope) or a directory under a cgroup mount.
func ContainerID(path string) string {
	var id, parent string
	for _, name := range strings.Split(path, "/") {
		if found := nameID(parent, name); found != "" {
			id = found
		}
		parent = name
	}
	return id
}

// ProcContainerID is the id of the container of a process, from its /proc/PID/cgroup: lines of
// "hierarchy:controllers:path", one for cgroup v2 ("0::/path") and one per cgroup v1 hierarchy;
// "" when no line names a container.
func ProcContainerID(procCgroup string) string {
	return firstInProcCgroup(procCgroup, ContainerID)
}

// firstInProcCgroup is the first non-empty answer of find for the paths of /proc/PID/cgroup's lines.
func firstInProcCgroup(procCgroup string, find func(path string) string) string {
	for _, line := range strings.Split(procCgroup, "\n") {
		_, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if _, path, ok := strings.Cut(rest, ":"); ok {
			if found := find(path); found != "" {
				return found
			}
		}
	}
	return ""
}

var containerIDPattern = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// ParseContainerID checks a container id as a user gives it: the full 64 hex digits, or a prefix
// of at least 12 (as docker ps shows them), optionally after a runtime's scheme as Kubernetes
// writes it in a pod's status (containerd://ID, cri-o://ID, docker://ID). It returns the id.
func ParseContainerID(text string) (string, error) {
	if _, after, ok := strings.Cut(text, "://"); ok {
		text = after
	}
	if !containerIDPattern.MatchString(text) {
		return "", errors.New("want a container id: 12 to 64 hex digits (0-9, a-f)")
	}
	return text, nil
}

// Container is a container's cgroup.
type Container struct {
	ID  string // all 64 hex digits
	Dir string // its cgroup v2 directory
}

// FindContainer finds the cgroup v2 directory of the container whose id is id or begins with it
// (ParseContainerID's form), looking for the names containerd, cri-o, docker and podman give it.
func FindContainer(id string) (Container, error) {
	mount, err := Mount()
	if err != nil {
		return Container{}, err
	}
	return findContainer(mount, id)
}

// findContainer looks for the container under root, a cgroup v2 mount.
func findContainer(root, id string) (Container, error) {
	var found []Container
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Cgroups come and go during the walk, and some may not be readable.
			if path != root && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)) {
				return nil
			}
			return err
		}
		if !d.IsDir() || path == root {
			return nil
		}
		if full := nameID(filepath.Base(filepath.Dir(path)), d.Name()); full != "" && strings.HasPrefix(full, id) {
			found = append(found, Container{ID: full, Dir: path})
		}
		return nil
	})
	if err != nil {
		return Container{}, fmt.Errorf("search the cgroup v2 hierarchy: %w", err)
	}
	switch {
	case len(found) == 0:
		return Container{}, fmt.Errorf("no container %s under %s (looked for the cgroup names of containerd, cri-o, docker and podman)", id, root)
	case len(found) > 1:
		ids := map[string]bool{}
		var list []string
		for _, c := range found {
			if !ids[c.ID] {
				ids[c.ID] = true
				list = append(list, c.ID)
			}
		}
		if len(list) > 1 {
			return Container{}, fmt.Errorf("%s is the beginning of %d containers' ids: %s; give more of it", id, len(list), strings.Join(list, ", "))
		}
		dirs := make([]string, len(found))
		for i, c := range found {
			dirs[i] = c.Dir
		}
		return Container{}, fmt.Errorf("container %s has %d cgroups: %s; name one with --cgroup", found[0].ID, len(found), strings.Join(dirs, ", "))
	}
	return found[0], nil
}

// podNames are the cgroup directory names Kubernetes gives a pod, one row per cgroup driver; the
// pod's UID is the name pattern's first group, with the systemd driver's underscores for dashes.
var podNames = []struct {
	name, parent *regexp.Regexp // parent nil: any
}{
	// systemd driver: /kubepods.slice/kubepods-QOS.slice/kubepods-QOS-podUID.slice, and
	// /kubepods.slice/kubepods-podUID.slice for Guaranteed pods.
	{name: regexp.MustCompile(`^kubepods(?:-[a-z]+)?-pod([0-9a-f_]{32,36})\.slice$`)},
	// cgroupfs driver: /kubepods/QOS/podUID, and /kubepods/podUID for Guaranteed pods.
	{name: regexp.MustCompile(`^pod([0-9a-f-]{32,36})$`), parent: regexp.MustCompile(`^(?:kubepods|besteffort|burstable)$`)},
}

// PodUID is the UID of the Kubernetes pod a cgroup path belongs to, in the form the API server
// gives it (dashes, as metadata.uid); "" when the path is no pod's. The path is as ContainerID's.
func PodUID(path string) string {
	var uid, parent string
	for _, name := range strings.Split(path, "/") {
		for _, row := range podNames {
			if m := row.name.FindStringSubmatch(name); m != nil && (row.parent == nil || row.parent.MatchString(parent)) {
				uid = strings.ReplaceAll(m[1], "_", "-")
			}
		}
		parent = name
	}
	return uid
}

// ProcPodUID is the UID of the pod of a process, from its /proc/PID/cgroup (ProcContainerID's
// form); "" when no line names a pod.
func ProcPodUID(procCgroup string) string {
	return firstInProcCgroup(procCgroup, PodUID)
}
