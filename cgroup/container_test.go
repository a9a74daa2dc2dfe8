package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	id          = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
	other       = "3f4e5d6c7b8a11223344556677889900aabbccddeeff00112233445566778899" // shares 12 digits with id
	podUID      = "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809"
	podUIDSlice = "1a2b3c4d_5e6f_7081_92a3_b4c5d6e7f809" // as systemd slice names spell it
)

// Each runtime's cgroup, as /proc/PID/cgroup shows it on cgroup v2 (one line) and on cgroup v1
// (a line per hierarchy, the v2 line of a hybrid system last).
func TestProcContainerID(t *testing.T) {
	for _, tc := range []struct {
		name, procCgroup, want string
	}{
		{"kubernetes containerd systemd v2",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUIDSlice + ".slice/cri-containerd-" + id + ".scope\n", id},
		{"kubernetes containerd systemd v1, guaranteed pod",
			"12:pids:/kubepods.slice/kubepods-pod" + podUIDSlice + ".slice/cri-containerd-" + id + ".scope\n" +
				"4:memory:/kubepods.slice/kubepods-pod" + podUIDSlice + ".slice/cri-containerd-" + id + ".scope\n" +
				"1:name=systemd:/kubepods.slice/kubepods-pod" + podUIDSlice + ".slice/cri-containerd-" + id + ".scope\n0::/\n", id},
		{"kubernetes cgroupfs v1",
			"12:memory:/kubepods/burstable/pod" + podUID + "/" + id + "\n11:cpu,cpuacct:/kubepods/burstable/pod" + podUID + "/" + id + "\n0::/\n", id},
		{"kubernetes cgroupfs v2, guaranteed pod", "0::/kubepods/pod" + podUID + "/" + id + "\n", id},
		{"kubernetes cgroupfs, static pod", "0::/kubepods/besteffort/pod0123456789abcdef0123456789abcdef/" + id + "\n", id},
		{"cri-o systemd v2", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUIDSlice + ".slice/crio-" + id + ".scope\n", id},
		{"cri-o cgroupfs v1", "3:cpuset:/kubepods/besteffort/pod" + podUID + "/crio-" + id + "\n", id},
		{"docker systemd v2", "0::/system.slice/docker-" + id + ".scope\n", id},
		{"docker systemd v1", "4:memory:/system.slice/docker-" + id + ".scope\n1:name=systemd:/system.slice/docker-" + id + ".scope\n", id},
		{"docker cgroupfs v1", "11:devices:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n0::/\n", id},
		{"docker cgroupfs v2", "0::/docker/" + id + "\n", id},
		{"docker systemd, a cgroup inside the container", "0::/system.slice/docker-" + id + ".scope/init.scope\n", id},
		{"docker in docker: the inner one", "0::/docker/" + other + "/docker/" + id + "\n", id},
		{"podman systemd v2", "0::/machine.slice/libpod-" + id + ".scope/container\n", id},
		{"podman rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope\n", id},
		{"podman cgroupfs", "0::/libpod_parent/libpod-" + id + "\n", id},
		{"no container: a session", "0::/user.slice/user-1000.slice/session-3.scope\n", ""},
		{"no container: the root", "0::/\n", ""},
		{"no container: a pod, not one of its containers", "0::/kubepods/burstable/pod" + podUID + "\n", ""},
		{"no container: cri-o's monitor", "0::/system.slice/crio-conmon-" + id + ".scope\n", ""},
		{"no container: podman's monitor", "0::/machine.slice/libpod-conmon-" + id + ".scope\n", ""},
		{"no container: 64 hex digits under another parent", "0::/system.slice/" + id + "\n", ""},
		{"no container: a short id", "0::/system.slice/docker-3f4e5d6c7b8a.scope\n", ""},
		{"no container: 32 hex digits", "4:memory:/process_api/bf41f7db9c6963d35e0f6244736442d0\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProcContainerID(tc.procCgroup); got != tc.want {
				t.Errorf("ProcContainerID(%q) = %q, want %q", tc.procCgroup, got, tc.want)
			}
		})
	}
}

func TestParseContainerID(t *testing.T) {
	for text, want := range map[string]string{
		id:                    id,
		id[:12]:               id[:12],
		id[:30]:               id[:30],
		"containerd://" + id:  id,
		"cri-o://" + id:       id,
		"docker://" + id[:12]: id[:12],
	} {
		if got, err := ParseContainerID(text); got != want || err != nil {
			t.Errorf("ParseContainerID(%q) = %q, %v; want %q", text, got, err, want)
		}
	}
	for _, bad := range []string{"", id[:11], id + "0", strings.ToUpper(id), "docker-" + id + ".scope", "my-container", "containerd://"} {
		if got, err := ParseContainerID(bad); err == nil || !strings.Contains(err.Error(), "12 to 64 hex digits") {
			t.Errorf("ParseContainerID(%q) = %q, %v; want an error", bad, got, err)
		}
	}
}

// mkdirs makes a cgroup tree under root, each path a directory with a file as cgroups have.
func mkdirs(t *testing.T, root string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		dir := filepath.Join(root, p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindContainer(t *testing.T) {
	root := t.TempDir()
	pod := "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podUIDSlice + ".slice"
	pause := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	mkdirs(t, root,
		pod+"/cri-containerd-"+id+".scope",
		pod+"/cri-containerd-"+pause+".scope",
		"system.slice/docker-"+other+".scope/init.scope",
		"system.slice/crio-conmon-"+pause+".scope",
		"machine.slice/libpod-conmon-"+pause+".scope",
		"kubepods/burstable/pod"+podUID+"/"+strings.Repeat("a", 64),
		"user.slice/user-1000.slice/session-3.scope",
	)
	for _, tc := range []struct{ id, wantID, wantDir string }{
		{id, id, pod + "/cri-containerd-" + id + ".scope"},
		{id[:13], id, pod + "/cri-containerd-" + id + ".scope"},
		{other[:13], other, "system.slice/docker-" + other + ".scope"},
		{pause[:12], pause, pod + "/cri-containerd-" + pause + ".scope"}, // the conmon scopes are no containers
		{"aaaaaaaaaaaa", strings.Repeat("a", 64), "kubepods/burstable/pod" + podUID + "/" + strings.Repeat("a", 64)},
	} {
		c, err := findContainer(root, tc.id)
		if err != nil || c.ID != tc.wantID || c.Dir != filepath.Join(root, tc.wantDir) {
			t.Errorf("findContainer(%s) = %+v, %v; want %s in %s", tc.id, c, err, tc.wantID, tc.wantDir)
		}
	}
	for _, tc := range []struct{ id, want string }{
		{id[:12], "is the beginning of 2 containers' ids: "},
		{"0badc0ffee00", "no container 0badc0ffee00 under " + root},
	} {
		if c, err := findContainer(root, tc.id); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("findContainer(%s) = %+v, %v; want an error saying %q", tc.id, c, err, tc.want)
		}
	}

	// The same container in two places is not guessed between.
	mkdirs(t, root, "docker/"+other)
	if c, err := findContainer(root, other); err == nil || !strings.Contains(err.Error(), "has 2 cgroups") {
		t.Errorf("findContainer(%s) with two cgroups = %+v, %v; want an error", other, c, err)
	}
	if _, err := findContainer(filepath.Join(root, "missing"), id); err == nil {
		t.Error("findContainer under a missing root succeeded")
	}
}

// Each driver's pod cgroups, as /proc/PID/cgroup shows them, with the UID as the API server
// spells it.
func TestProcPodUID(t *testing.T) {
	static := "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, procCgroup, want string
	}{
		{"systemd v2, burstable", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + podUIDSlice + ".slice/cri-containerd-" + id + ".scope\n", podUID},
		{"systemd v1, guaranteed", "4:memory:/kubepods.slice/kubepods-pod" + podUIDSlice + ".slice/crio-" + id + ".scope\n0::/\n", podUID},
		{"cgroupfs v1, besteffort", "12:memory:/kubepods/besteffort/pod" + podUID + "/" + id + "\n0::/\n", podUID},
		{"cgroupfs v2, guaranteed", "0::/kubepods/pod" + podUID + "/" + id + "\n", podUID},
		{"cgroupfs, static pod", "0::/kubepods/burstable/pod" + static + "/" + id + "\n", static},
		{"the pod's own cgroup", "0::/kubepods/burstable/pod" + podUID + "\n", podUID},
		{"no pod: docker", "0::/system.slice/docker-" + id + ".scope\n", ""},
		{"no pod: pod under another parent", "0::/system.slice/pod" + podUID + "\n", ""},
		{"no pod: the root", "0::/\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ProcPodUID(tc.procCgroup); got != tc.want {
				t.Errorf("ProcPodUID(%q) = %q, want %q", tc.procCgroup, got, tc.want)
			}
		})
	}
}
