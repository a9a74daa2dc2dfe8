// Package errno names the errno-style return values of kernel functions and syscalls, and says
// which of them are outcomes rather than failures.
package errno

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Max is the largest errno: kernel functions return -Max..-1 for errors.
const Max = 4095

// Is reports whether ret is an errno-style return value, in [-Max, -1].
func Is(ret int64) bool { return ret < 0 && ret >= -Max }

// kernelInternal are the kernel's own errnos (include/linux/errno.h), which kernel functions and
// interrupted syscalls return but user space never sees.
var kernelInternal = map[int64][2]string{
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

// Name names an errno-style return value: "ENOENT", a kernel-internal name such as
// "ERESTARTSYS", or "errno 600" for one without a name; "" when ret is not an errno.
func Name(ret int64) string {
	if !Is(ret) {
		return ""
	}
	if name := unix.ErrnoName(syscall.Errno(-ret)); name != "" {
		return name
	}
	if known, ok := kernelInternal[-ret]; ok {
		return known[0]
	}
	return "errno " + strconv.FormatInt(-ret, 10)
}

// text describes an errno ("no such file or directory").
func text(ret int64) string {
	if known, ok := kernelInternal[-ret]; ok {
		return known[1]
	}
	return syscall.Errno(-ret).Error()
}

// messages caches Message's strings, so that failed calls cost no allocation either.
var messages [Max + 1]atomic.Pointer[string]

// Message describes an errno return for a span's status: "ENOENT: no such file or directory".
// ret must satisfy Is.
func Message(ret int64) string {
	slot := &messages[-ret]
	if message := slot.Load(); message != nil {
		return *message
	}
	message := Name(ret) + ": " + text(ret)
	slot.Store(&message)
	return message
}

// aliases are second names of errnos that Name gives another name.
var aliases = map[string]int64{"EWOULDBLOCK": int64(unix.EWOULDBLOCK), "EDEADLOCK": int64(unix.EDEADLOCK)}

var byName = sync.OnceValue(func() map[string]int64 {
	names := map[string]int64{}
	for n := int64(1); n <= Max; n++ {
		if name := Name(-n); !strings.HasPrefix(name, "errno ") {
			names[name] = n
		}
	}
	for name, n := range aliases {
		names[name] = n
	}
	return names
})

// Parse turns an errno's name ("EAGAIN", "ERESTARTSYS") into its positive number.
func Parse(name string) (int64, error) {
	if n, ok := byName()[name]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("%q is not an errno name (such as EAGAIN or EINPROGRESS)", name)
}

// DefaultNotFailures are the errnos that report how a call went rather than that it failed: a
// non-blocking call that would block or is under way, and the restart codes with which the kernel
// replays a syscall that a signal interrupted. Spans keep their name, but not status Error or
// error.type, and --errors-only does not keep them.
var DefaultNotFailures = []string{"EAGAIN", "EINPROGRESS", "EALREADY", "ERESTARTSYS", "ERESTARTNOINTR", "ERESTARTNOHAND", "ERESTART_RESTARTBLOCK"}

// MaxNotFailures bounds a probe's list, which the kernel's --errors-only filter checks per call.
const MaxNotFailures = 8

// Set is a probe's errnos that are not failures, as positive numbers.
type Set []int64

// ParseSet parses a list of errno names; duplicates (EAGAIN and EWOULDBLOCK) count once.
func ParseSet(names []string) (Set, error) {
	var set Set
	for _, name := range names {
		n, err := Parse(name)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(set, n) {
			set = append(set, n)
		}
	}
	if len(set) > MaxNotFailures {
		return nil, fmt.Errorf("%d errnos that are not failures, at most %d", len(set), MaxNotFailures)
	}
	return set, nil
}

// None is how a user writes the empty Set: every errno is a failure.
const None = "none"

// ParseList parses a comma-separated list of errno names, or None.
func ParseList(text string) (Set, error) {
	if text == None {
		return Set{}, nil
	}
	names := strings.Split(text, ",")
	for i, name := range names {
		names[i] = strings.TrimSpace(name)
	}
	return ParseSet(names)
}

// String is the set as ParseList reads it.
func (s Set) String() string {
	if len(s) == 0 {
		return None
	}
	names := make([]string, len(s))
	for i, n := range s {
		names[i] = Name(-n)
	}
	return strings.Join(names, ",")
}

// DefaultSet is DefaultNotFailures as a Set.
var DefaultSet = sync.OnceValue(func() Set {
	set, err := ParseSet(DefaultNotFailures)
	if err != nil {
		panic(err) // DefaultNotFailures is a constant list; its test keeps it valid
	}
	return set
})

// Failure reports whether ret is an errno that the set does not excuse.
func (s Set) Failure(ret int64) bool { return Is(ret) && !slices.Contains(s, -ret) }
