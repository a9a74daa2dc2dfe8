package bpf

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ringWaiter waits for records through Go's netpoller, with the reading goroutine parked,
// rather than in the ring reader's own blocking epoll_wait. A thread blocked in a system call
// keeps the Go runtime's monitor waking every 20 µs to see whether it should take the thread's
// processor back, and in a virtual machine each of those wakeups is a costly context switch:
// measured, they were a third of kretspan's CPU at 1M spans/s.
type ringWaiter struct {
	file    *os.File
	conn    syscall.RawConn
	stopped atomic.Bool
}

// newRingWaiter watches ring, a ring buffer map. It fails where the netpoller cannot watch the
// map, which leaves the ring reader's own waiting.
func newRingWaiter(ring *ebpf.Map) (*ringWaiter, error) {
	fd, err := unix.FcntlInt(uintptr(ring.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate the ring buffer's descriptor: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ring buffer descriptor: %w", err)
	}
	file := os.NewFile(uintptr(fd), "ring buffer")
	// Only a descriptor the netpoller watches takes a deadline.
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		file.Close()
		return nil, fmt.Errorf("watch the ring buffer: %w", err)
	}
	conn, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("watch the ring buffer: %w", err)
	}
	return &ringWaiter{file: file, conn: conn}, nil
}

// wait returns once ready reports true, the deadline passes or stop is called. The ring wakes
// the netpoller only when a producer asks it to (BPF_RB_FORCE_WAKEUP, or a submit without flags),
// hence the deadline.
func (w *ringWaiter) wait(deadline time.Time, ready func() bool) error {
	if err := w.file.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("wait for the ring buffer: %w", err)
	}
	err := w.conn.Read(func(uintptr) bool { return w.stopped.Load() || ready() })
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("wait for the ring buffer: %w", err)
	}
	return nil
}

// stop ends a wait, and every later one, at once. It may be called from any goroutine.
func (w *ringWaiter) stop() {
	w.stopped.Store(true)
	_ = w.file.SetReadDeadline(time.Unix(1, 0)) // in the past: wakes a wait under way
}

func (w *ringWaiter) close() error { return w.file.Close() }
