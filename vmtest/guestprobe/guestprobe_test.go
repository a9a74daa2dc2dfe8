//go:build linux

package guestprobe

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// requireGuest skips unless /init of a vmtest guest started the test; these
// checks describe the guest, not the developer's machine.
func requireGuest(t *testing.T) {
	t.Helper()
	if os.Getenv("KRETSPAN_VMTEST") != "1" {
		t.Skip("not inside a vmtest guest (KRETSPAN_VMTEST unset)")
	}
}

func TestKernelRelease(t *testing.T) {
	requireGuest(t)
	raw, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	release := strings.TrimSpace(string(raw))
	if want := os.Getenv("KRETSPAN_VMTEST_KERNEL_RELEASE"); release != want {
		t.Errorf("running kernel %q, vmtest pinned %q", release, want)
	}
	// Labels are the series ("6.1"), prefixed with the architecture but for amd64 ("arm64-6.1").
	series := strings.TrimPrefix(os.Getenv("KRETSPAN_VMTEST_KERNEL"), runtime.GOARCH+"-")
	if !strings.HasPrefix(release, series+".") {
		t.Errorf("running kernel %q is not in series %q", release, series)
	}
	t.Logf("kernel %s", release)
}

func TestKernelHasBTF(t *testing.T) {
	requireGuest(t)
	f, err := os.Open("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	magic := make([]byte, 2)
	if _, err := f.Read(magic); err != nil {
		t.Fatal(err)
	}
	// BTF_MAGIC 0xeB9F, little-endian on x86-64 and arm64.
	if !bytes.Equal(magic, []byte{0x9f, 0xeb}) {
		t.Fatalf("vmlinux BTF starts with %x, want 9feb", magic)
	}
}

// TestKprobeEvents defines and removes a kprobe through tracefs, which proves
// CONFIG_KPROBE_EVENTS and a mounted tracefs without needing BPF.
func TestKernelKprobeEvents(t *testing.T) {
	requireGuest(t)
	const events = "/sys/kernel/tracing/kprobe_events"
	if _, err := os.Stat(events); err != nil {
		t.Fatal(err)
	}
	define := func(line string) error {
		f, err := os.OpenFile(events, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(line + "\n")
		return err
	}
	if err := define("p:vmtest/nanosleep do_nanosleep"); err != nil {
		t.Fatalf("defining kprobe on do_nanosleep: %v", err)
	}
	defer define("-:vmtest/nanosleep")
	if _, err := os.Stat("/sys/kernel/tracing/events/vmtest/nanosleep"); err != nil {
		t.Fatalf("kprobe event not created: %v", err)
	}
}

func TestKernelBPFFS(t *testing.T) {
	requireGuest(t)
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/bpf", &st); err != nil {
		t.Fatal(err)
	}
	const bpfFSMagic = 0xcafe4a11
	if st.Type != bpfFSMagic {
		t.Fatalf("/sys/fs/bpf has fs type %#x, want bpffs %#x", st.Type, bpfFSMagic)
	}
}

// TestBPFMapCreate calls bpf(BPF_MAP_CREATE) for a one-entry array map.
func TestKernelBPFMapCreate(t *testing.T) {
	requireGuest(t)
	const (
		cmdMapCreate            = 0
		mapTypeArray            = 2
		keySize, valSize        = 4, 8
		maxEntries       uint32 = 1
	)
	attr := [4]uint32{mapTypeArray, keySize, valSize, maxEntries}
	fd, _, errno := syscall.Syscall(unix.SYS_BPF, cmdMapCreate, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		t.Fatalf("bpf(BPF_MAP_CREATE): %v", errno)
	}
	syscall.Close(int(fd))
}

// TestKernelHarnessSelfCheck lets the harness prove it catches bad guests:
// KRETSPAN_VMTEST_SELFCHECK=fail fails, =hang never returns, =crash panics
// the guest kernel. Unset, it skips.
func TestKernelHarnessSelfCheck(t *testing.T) {
	requireGuest(t)
	switch mode := os.Getenv("KRETSPAN_VMTEST_SELFCHECK"); mode {
	case "":
		t.Skip("KRETSPAN_VMTEST_SELFCHECK unset")
	case "fail":
		t.Fatal("deliberate failure (KRETSPAN_VMTEST_SELFCHECK=fail)")
	case "hang":
		time.Sleep(24 * time.Hour)
	case "crash":
		if err := os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(24 * time.Hour)
	default:
		t.Fatalf("unknown KRETSPAN_VMTEST_SELFCHECK=%q", mode)
	}
}
