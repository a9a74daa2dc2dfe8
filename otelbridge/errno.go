package otelbridge

import (
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// IsErrno reports whether ret is an errno-style return value, in [-4095, -1].
func IsErrno(ret int64) bool { return ret < 0 && ret >= -4095 }

// kernelErrnos are the kernel's internal errnos (include/linux/errno.h), which kernel functions
// and interrupted syscalls return but user space never sees.
var kernelErrnos = map[int64][2]string{
	512: {"ERESTARTSYS", "restart system call"}, 513: {"ERESTARTNOINTR", "restart system call, not interrupted"},
	514: {"ERESTARTNOHAND", "restart if no signal handler"}, 515: {"ENOIOCTLCMD", "no ioctl command"},
	516: {"ERESTART_RESTARTBLOCK", "restart through the restart block"}, 517: {"EPROBE_DEFER", "driver probe deferred"},
	518: {"EOPENSTALE", "open found a stale dentry"}, 519: {"ENOPARAM", "parameter not supported"},
	521: {"EBADHANDLE", "illegal NFS file handle"}, 522: {"ENOTSYNC", "update synchronization mismatch"},
	523: {"EBADCOOKIE", "cookie is stale"}, 524: {"ENOTSUPP", "operation not supported"},
	525: {"ETOOSMALL", "buffer or request is too small"}, 526: {"ESERVERFAULT", "an untranslatable server error"},
	527: {"EBADTYPE", "type not supported by server"}, 528: {"EJUKEBOX", "request initiated, but will not complete before timeout"},
	529: {"EIOCBQUEUED", "iocb queued, will get completion event"}, 530: {"ERECALLCONFLICT", "conflict with recalled state"},
}

// ErrnoName names an errno-style return value: "ENOENT", a kernel-internal name such as
// "ERESTARTSYS", or "errno 600" for one without a name; "" when ret is not an errno.
func ErrnoName(ret int64) string {
	if !IsErrno(ret) {
		return ""
	}
	if name := unix.ErrnoName(syscall.Errno(-ret)); name != "" {
		return name
	}
	if known, ok := kernelErrnos[-ret]; ok {
		return known[0]
	}
	return "errno " + strconv.FormatInt(-ret, 10)
}

// errnoText describes an errno ("no such file or directory").
func errnoText(ret int64) string {
	if known, ok := kernelErrnos[-ret]; ok {
		return known[1]
	}
	return syscall.Errno(-ret).Error()
}

// errnoMessages caches status messages ("ENOENT: no such file or directory"), so that failed calls
// cost no allocation either.
var errnoMessages [4096]atomic.Pointer[string]

// errnoMessage is the span status message of an errno return.
func errnoMessage(ret int64) string {
	slot := &errnoMessages[-ret]
	if message := slot.Load(); message != nil {
		return *message
	}
	message := ErrnoName(ret) + ": " + errnoText(ret)
	slot.Store(&message)
	return message
}
