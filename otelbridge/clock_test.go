package otelbridge

import (
	"math"
	"testing"
	"time"
)

// scriptedClocks returns the readings given, in order, and fails the test when a clock is read
// more often than scripted.
type scriptedClocks struct {
	t               *testing.T
	mono, real      []int64
	monoRead, wallN int
}

func (s *scriptedClocks) clocks() Clocks {
	return Clocks{
		Monotonic: func() int64 {
			s.t.Helper()
			if s.monoRead >= len(s.mono) {
				s.t.Fatalf("monotonic clock read %d times, only %d scripted", s.monoRead+1, len(s.mono))
			}
			s.monoRead++
			return s.mono[s.monoRead-1]
		},
		Realtime: func() int64 {
			s.t.Helper()
			if s.wallN >= len(s.real) {
				s.t.Fatalf("realtime clock read %d times, only %d scripted", s.wallN+1, len(s.real))
			}
			s.wallN++
			return s.real[s.wallN-1]
		},
	}
}

// sample scripts one Resync sample: MONOTONIC before, REALTIME, MONOTONIC after.
func (s *scriptedClocks) sample(before, wall, after int64) {
	s.mono = append(s.mono, before, after)
	s.real = append(s.real, wall)
}

func (s *scriptedClocks) done() bool { return s.monoRead == len(s.mono) && s.wallN == len(s.real) }

const unixBase = int64(1_700_000_000_000_000_000) // some time in 2023, in ns

func TestWallClockPicksTightestBracket(t *testing.T) {
	s := &scriptedClocks{t: t}
	// Five samples. The true offset is unixBase; samples with wide brackets were preempted and
	// their realtime reads are off. The tightest (width 10, the third) must win, and the widest
	// one (whose midpoint would give the wrong offset by 5µs) must not.
	s.sample(1000, unixBase+1000+400, 1400)       // width 400
	s.sample(2000, unixBase+2000+5_000, 12_000)   // width 10000: very wrong if chosen
	s.sample(13_000, unixBase+13_005, 13_010)     // width 10: midpoint 13005 → offset unixBase
	s.sample(14_000, unixBase+14_000+900, 14_050) // width 50
	s.sample(15_000, unixBase+15_000+77, 15_020)  // width 20
	w := NewWallClock(s.clocks())
	if !s.done() {
		t.Fatalf("NewWallClock read %d monotonic and %d realtime values, want 10 and 5", s.monoRead, s.wallN)
	}
	if got := w.Offset(); got != time.Duration(unixBase) {
		t.Errorf("offset %d, want %d (tightest bracket); off by %d", int64(got), unixBase, int64(got)-unixBase)
	}
	if got := w.UnixNano(5_000_000); got != uint64(unixBase+5_000_000) {
		t.Errorf("UnixNano = %d", got)
	}

	// The first sample wins ties; a tie later does not replace it.
	s = &scriptedClocks{t: t}
	s.sample(100, unixBase+150, 200) // width 100, offset unixBase
	for i := range int64(4) {
		base := 1000 * (i + 1)
		s.sample(base, unixBase+base+50+999, base+100) // same width, different offset
	}
	if w := NewWallClock(s.clocks()); w.Offset() != time.Duration(unixBase) {
		t.Errorf("with ties, offset %d, want the first sample's %d", int64(w.Offset()), unixBase)
	}
}

func TestWallClockOddWidthMidpoint(t *testing.T) {
	s := &scriptedClocks{t: t}
	for range offsetSamples {
		s.sample(1000, 5000, 1003) // width 3: midpoint 1001 (integer half-width)
	}
	w := NewWallClock(s.clocks())
	if got := int64(w.Offset()); got != 5000-1001 {
		t.Errorf("offset %d, want %d", got, 5000-1001)
	}
}

func TestWallClockMaybeResync(t *testing.T) {
	s := &scriptedClocks{t: t}
	for i := range int64(offsetSamples) {
		s.sample(100*i, unixBase+100*i+5, 100*i+10)
	}
	w := NewWallClock(s.clocks())
	measured := int64(10) // "after" of the first sample: every width ties, so the first wins
	if int64(w.Offset()) != unixBase {
		t.Fatalf("offset %d", int64(w.Offset()))
	}

	// Just under a second of monotonic time since the measurement: no resync, and the
	// realtime clock is not read (a read would fail: none is scripted).
	s.mono = append(s.mono, measured+int64(time.Second)-1)
	w.MaybeResync()
	if !s.done() {
		t.Fatal("MaybeResync did not read the monotonic clock exactly once")
	}
	if int64(w.Offset()) != unixBase {
		t.Errorf("offset changed without a resync: %d", int64(w.Offset()))
	}

	// A second later: resync. Meanwhile the realtime clock was stepped forward an hour.
	step := int64(time.Hour)
	now := measured + int64(time.Second)
	s.mono = append(s.mono, now)
	for i := range int64(offsetSamples) {
		before := now + 1000*i
		s.sample(before, unixBase+step+before+10, before+20)
	}
	w.MaybeResync()
	if !s.done() {
		t.Fatalf("resync read %d/%d monotonic and %d/%d realtime values", s.monoRead, len(s.mono), s.wallN, len(s.real))
	}
	if got, want := int64(w.Offset()), unixBase+step; got != want {
		t.Errorf("after a clock step, offset %d, want %d", got, want)
	}
	if got := w.UnixNano(uint64(now)); got != uint64(now+unixBase+step) {
		t.Errorf("UnixNano after the step = %d, want %d", got, now+unixBase+step)
	}

	// The next resync is due a second after the new measurement (now+20), not the old one.
	s.mono = append(s.mono, now+20+int64(time.Second)-1)
	w.MaybeResync()
	if !s.done() {
		t.Fatal("resynced too early")
	}
}

func TestWallClockUnixNanoArithmetic(t *testing.T) {
	for _, tc := range []struct {
		offset    int64
		monotonic uint64
		want      uint64
	}{
		{unixBase, 0, uint64(unixBase)},
		{unixBase, 123_456_789, uint64(unixBase) + 123_456_789},
		{-1000, 5000, 4000}, // realtime behind monotonic (a clock set back before 1970 + uptime)
		{0, math.MaxInt64, math.MaxInt64},
	} {
		w := &WallClock{offset: tc.offset}
		if got := w.UnixNano(tc.monotonic); got != tc.want {
			t.Errorf("offset %d: UnixNano(%d) = %d, want %d", tc.offset, tc.monotonic, got, tc.want)
		}
		if w.Offset() != time.Duration(tc.offset) {
			t.Errorf("Offset() = %d, want %d", w.Offset(), tc.offset)
		}
	}
}

func TestSystemClocksAgreeWithTime(t *testing.T) {
	w := NewWallClock(SystemClocks())
	mono := SystemClocks().Monotonic()
	got := time.Unix(0, int64(w.UnixNano(uint64(mono))))
	if d := time.Since(got); d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("converted monotonic now is %v away from time.Now", d)
	}
}
