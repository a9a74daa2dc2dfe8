package processinfo

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// writeProc makes a process's files under a proc root of the test's own.
func writeProc(t *testing.T, root string, pid int, files map[string]string, exe string) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if exe != "" {
		if err := os.Symlink(exe, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	containerID = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"
	podUID      = "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809"
)

// statLine is /proc/PID/stat with a command name that has spaces and a parenthesis in it.
const statLine = "4242 (my (odd) app) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

func TestRead(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 4242, map[string]string{
		"stat":    statLine,
		"status":  "Name:\tmy (odd) app\nUid:\t0\t1000\t1000\t1000\nGid:\t0\t0\t0\t0\n",
		"environ": "PATH=/bin\x00OTEL_RESOURCE_ATTRIBUTES=team=a,service.name=from%20attributes\x00OTEL_SERVICE_NAME=checkout\x00",
		"cgroup":  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f_7081_92a3_b4c5d6e7f809.slice/cri-containerd-" + containerID + ".scope\n",
		"cmdline": "/usr/bin/app\x00--token\x00secret\x00",
	}, "/usr/bin/app (deleted)")
	root0, err := user.LookupId("0")
	if err != nil {
		t.Skip("no user 0 in this system's user database")
	}
	want := Process{PID: 4242, ParentPID: 17, StartTicks: 987654, Comm: "my (odd) app", ExecutablePath: "/usr/bin/app",
		ExecutableName: "app", Owner: root0.Username, ServiceName: "checkout", ContainerID: containerID, PodUID: podUID}
	got, err := NewReader(root, false).Read(4242)
	if err != nil || got != want {
		t.Errorf("Read = %+v, %v\nwant   %+v", got, err, want)
	}
	want.CommandLine = "/usr/bin/app --token secret"
	if got, err := NewReader(root, true).Read(4242); err != nil || got != want {
		t.Errorf("Read with command lines = %+v, %v\nwant   %+v", got, err, want)
	}
}

// A kernel thread has a stat and no executable; the rest of an unreadable process is left out.
func TestReadOnlyStat(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 2, map[string]string{"stat": "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 1 0 0 0 0 0\n"}, "")
	got, err := NewReader(root, true).Read(2)
	if want := (Process{PID: 2, StartTicks: 3, Comm: "kthreadd", ExecutableName: "kthreadd"}); err != nil || got != want {
		t.Errorf("Read = %+v, %v; want %+v", got, err, want)
	}
	if _, err := NewReader(root, false).Read(3); !errors.Is(err, ErrGone) {
		t.Errorf("Read of a missing process: %v, want ErrGone", err)
	}
	writeProc(t, root, 5, map[string]string{"stat": "5 (x) S"}, "")
	if _, err := NewReader(root, false).Read(5); err == nil || errors.Is(err, ErrGone) {
		t.Errorf("Read of a malformed stat: %v, want an error that is not ErrGone", err)
	}
}

// This test's own process, from the real /proc: a Go program, its parent, and its start time.
func TestReadSelf(t *testing.T) {
	r := NewReader("/proc", false)
	p, err := r.Read(uint32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if p.ParentPID != uint32(os.Getppid()) || p.ExecutablePath != exe || p.RuntimeName != "go" || p.StartTicks == 0 {
		t.Errorf("Read(self) = %+v; want parent %d, executable %s, runtime go, a start time", p, os.Getppid(), exe)
	}
	if start, err := r.StartTicks(uint32(os.Getpid())); err != nil || start != p.StartTicks {
		t.Errorf("StartTicks = %d, %v; want %d", start, err, p.StartTicks)
	}
}

func TestServiceName(t *testing.T) {
	for environ, want := range map[string]string{
		"OTEL_SERVICE_NAME=a\x00OTEL_RESOURCE_ATTRIBUTES=service.name=b": "a",
		"OTEL_RESOURCE_ATTRIBUTES=k=v,service.name=b%2Fc\x00":            "b/c",
		"OTEL_SERVICE_NAME= \x00OTEL_RESOURCE_ATTRIBUTES=service.name=b": "b", // blank counts as unset
		"OTEL_SERVICE_NAME_X=a\x00XOTEL_SERVICE_NAME=b":                  "",
		"": "",
	} {
		if got := ServiceName([]byte(environ)); got != want {
			t.Errorf("ServiceName(%q) = %q, want %q", environ, got, want)
		}
	}
}
