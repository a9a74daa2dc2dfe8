package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// explainPermission adds to a permission error the capabilities this process lacks.
func explainPermission(err error) error {
	var verifierErr *ebpf.VerifierError
	if errors.As(err, &verifierErr) || (!errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES)) {
		return err // the verifier answers EACCES for programs it rejects: not a privilege matter
	}
	missing := MissingCapabilities()
	if len(missing) == 0 {
		return fmt.Errorf("%w (the kernel refused although kretspan holds CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN; lockdown or a security module may forbid it)", err)
	}
	return fmt.Errorf("%w: kretspan needs %s; run as root or grant them (setcap or a container's capabilities)", err, strings.Join(missing, " and "))
}

// CheckPrivileges fails, naming what is missing, when this process cannot load BPF programs.
func CheckPrivileges() error {
	if missing := MissingCapabilities(); len(missing) > 0 {
		return fmt.Errorf("missing %s, needed to load eBPF programs and open perf events; run as root or grant them (setcap cap_bpf,cap_perfmon+ep, or a container's capabilities)", strings.Join(missing, " and "))
	}
	return nil
}

// RemoveMemlock lifts the locked-memory limit that kernels before 5.11 charge BPF maps to.
func RemoveMemlock() error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("raise the locked-memory limit for BPF maps (kernels before 5.11 need it): %w; grant CAP_SYS_RESOURCE or raise 'ulimit -l'", err)
	}
	return nil
}

// MissingCapabilities names the capabilities kretspan needs and this process lacks in its
// effective set. CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON on kernels before 5.8.
func MissingCapabilities() []string {
	header := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&header, &data[0]); err != nil {
		return nil
	}
	has := func(capability int) bool { return data[capability/32].Effective&(1<<(capability%32)) != 0 }
	if has(unix.CAP_SYS_ADMIN) {
		return nil
	}
	var missing []string
	if !has(unix.CAP_BPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(unix.CAP_PERFMON) {
		missing = append(missing, "CAP_PERFMON")
	}
	return missing
}
