package otelbridge

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrnoName returns the errno name ("ENOENT") of an errno-style return value in [-4095, -1],
// or "" when ret is not one or the errno has no name.
func ErrnoName(ret int64) string {
	if ret >= 0 || ret < -4095 {
		return ""
	}
	return unix.ErrnoName(syscall.Errno(-ret))
}

// errnoText is the errno's description ("no such file or directory").
func errnoText(ret int64) string { return syscall.Errno(-ret).Error() }
