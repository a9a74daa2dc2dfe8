package otelbridge

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clocks reads the two clocks that WallClock relates, in nanoseconds.
type Clocks struct {
	Monotonic func() int64 // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
	Realtime  func() int64 // CLOCK_REALTIME, Unix time
}

// SystemClocks are the machine's clocks.
func SystemClocks() Clocks {
	read := func(id int32) func() int64 {
		return func() int64 {
			var ts unix.Timespec
			_ = unix.ClockGettime(id, &ts) // cannot fail for these clock ids
			return ts.Nano()
		}
	}
	return Clocks{Monotonic: read(unix.CLOCK_MONOTONIC), Realtime: read(unix.CLOCK_REALTIME)}
}

const (
	// resyncInterval follows clock steps and NTP slew without measuring on every event.
	resyncInterval = time.Second
	// offsetSamples: of these, the sample with the tightest bracketing monotonic reads wins.
	offsetSamples = 5
)

// WallClock converts CLOCK_MONOTONIC timestamps to Unix time with an offset REALTIME − MONOTONIC
// that is re-measured about once a second. Not safe for concurrent use.
type WallClock struct {
	clocks   Clocks
	offset   int64
	measured int64 // monotonic time of the last measurement
}

// NewWallClock measures the offset once and returns the clock.
func NewWallClock(clocks Clocks) *WallClock {
	w := &WallClock{clocks: clocks}
	w.Resync()
	return w
}

// Resync measures the offset now: it reads REALTIME between two MONOTONIC reads and keeps, of
// several tries, the one whose monotonic reads are closest, since preemption between the reads
// is the error.
func (w *WallClock) Resync() {
	best := int64(-1)
	for range offsetSamples {
		before := w.clocks.Monotonic()
		wall := w.clocks.Realtime()
		after := w.clocks.Monotonic()
		if width := after - before; best < 0 || width < best {
			best = width
			w.offset = wall - (before + width/2)
			w.measured = after
		}
	}
}

// MaybeResync re-measures when the last measurement is older than a second.
func (w *WallClock) MaybeResync() {
	if w.clocks.Monotonic()-w.measured >= int64(resyncInterval) {
		w.Resync()
	}
}

// UnixNano converts a monotonic timestamp to Unix nanoseconds.
func (w *WallClock) UnixNano(monotonic uint64) uint64 {
	return uint64(int64(monotonic) + w.offset)
}

// Offset is the current REALTIME − MONOTONIC offset.
func (w *WallClock) Offset() time.Duration { return time.Duration(w.offset) }
