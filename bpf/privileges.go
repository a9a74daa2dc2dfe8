package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Capabilities kretspan needs. CAP_BPF and CAP_PERFMON load programs and open perf events for
// tracepoints, kprobes and fentry; the kernel's uprobe PMU asks for CAP_SYS_ADMIN, which also
// stands in for the other two on kernels before 5.8.
const (
	capBPF      = "CAP_BPF"
	capPerfmon  = "CAP_PERFMON"
	capSysAdmin = "CAP_SYS_ADMIN"
)

var capabilityBits = map[string]int{capBPF: unix.CAP_BPF, capPerfmon: unix.CAP_PERFMON, capSysAdmin: unix.CAP_SYS_ADMIN}

// explainPermission adds to a permission error the capabilities, of those the failed operation
// needs, that this process lacks.
func explainPermission(err error, needed ...string) error {
	var verifierErr *ebpf.VerifierError
	if errors.As(err, &verifierErr) || (!errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES)) {
		return err // the verifier answers EACCES for programs it rejects: not a privilege matter
	}
	if len(needed) == 0 {
		needed = []string{capBPF, capPerfmon}
	}
	missing := missingCapabilities(needed...)
	if len(missing) == 0 {
		return fmt.Errorf("%w (the kernel refused although kretspan holds %s; lockdown or a security module may forbid it)", err, strings.Join(needed, " and "))
	}
	return fmt.Errorf("%w: this needs %s; run as root or grant it (setcap, or a container's capabilities)", err, strings.Join(missing, " and "))
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

// MissingCapabilities names what this process lacks of CAP_BPF and CAP_PERFMON (none when it
// holds CAP_SYS_ADMIN, which kernels before 5.8 ask for instead).
func MissingCapabilities() []string {
	if len(missingCapabilities(capSysAdmin)) == 0 {
		return nil
	}
	return missingCapabilities(capBPF, capPerfmon)
}

// missingCapabilities returns those of names not in this process's effective set.
func missingCapabilities(names ...string) []string {
	header := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&header, &data[0]); err != nil {
		return nil
	}
	var missing []string
	for _, name := range names {
		bit := capabilityBits[name]
		if data[bit/32].Effective&(1<<(bit%32)) == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// fileDescriptorsNeeded estimates the descriptors Start holds: a handful for the shared maps,
// the ring and the programs and links that serve many targets at once, and what each target's
// mechanism costs of its own.
func fileDescriptorsNeeded(probes []Probe) uint64 {
	needed := uint64(64)
	for _, p := range probes {
		needed += attachments[p.Mechanism].descriptors(p)
	}
	return needed
}

// ensureFileLimit raises the open-file limit to needed where it is lower (root may raise the hard
// limit too), so that a large glob fails before attaching anything rather than part-way.
func ensureFileLimit(needed uint64) error {
	var limit unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &limit); err != nil {
		return fmt.Errorf("read the open-file limit: %w", err)
	}
	if limit.Cur >= needed {
		return nil
	}
	raised := unix.Rlimit{Cur: needed, Max: max(limit.Max, needed)}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
		return fmt.Errorf("these probes need about %d file descriptors and the limit is %d (ulimit -n; raising it: %w): raise it, or use a kernel with kprobe.multi (5.18+) for kernel-function globs", needed, limit.Cur, err)
	}
	return nil
}
