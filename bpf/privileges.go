package bpf

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// explainPermission adds to a permission error the capabilities this process lacks.
func explainPermission(err error) error {
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		return err
	}
	missing := MissingCapabilities()
	if len(missing) == 0 {
		return fmt.Errorf("%w (the kernel refused although kretspan holds CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN; lockdown or a security module may forbid it)", err)
	}
	return fmt.Errorf("%w: kretspan needs %s; run as root or grant them (setcap or a container's capabilities)", err, strings.Join(missing, " and "))
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
