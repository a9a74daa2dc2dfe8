package bpf

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/probe"
)

func TestEnsureFileLimitRaisesTheSoftLimit(t *testing.T) {
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &saved) })
	if saved.Max < 512 {
		t.Skipf("hard open-file limit %d is below this test's 512", saved.Max)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 256, Max: saved.Max}); err != nil {
		t.Fatal(err)
	}
	probes, multiProbes := make([]Probe, 50), make([]Probe, 50)
	for i := range probes {
		probes[i].Mechanism, multiProbes[i].Mechanism = probe.MechanismKprobe, probe.MechanismKprobeMulti
	}
	needed := fileDescriptorsNeeded(probes)
	if multi := fileDescriptorsNeeded(multiProbes); needed <= 256 || multi >= needed {
		t.Fatalf("50 kprobes need %d descriptors, %d with kprobe.multi; want more than 256, and fewer with kprobe.multi", needed, multi)
	}
	if err := ensureFileLimit(needed); err != nil {
		t.Fatal(err)
	}
	var got unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &got); err != nil {
		t.Fatal(err)
	}
	if got.Cur < needed || got.Max != saved.Max {
		t.Errorf("limit %+v after ensuring %d; want the soft limit raised, the hard one kept", got, needed)
	}
}
