package bpf

import (
	"slices"
	"testing"
)

// Every counter the kernel has (enum counter) has a metric outcome of its own and a ledger.
func TestCounterTableCoversEveryCounter(t *testing.T) {
	all := Counters()
	if len(all) != len(ProbeCounts{}.Counts) {
		t.Fatalf("%d counters listed, struct probe_counters has %d", len(all), len(ProbeCounts{}.Counts))
	}
	outcomes := map[string]bool{}
	for _, c := range all {
		if c.Outcome() == "" || outcomes[c.Outcome()] {
			t.Errorf("counter %d: outcome %q, want one of its own", c, c.Outcome())
		}
		outcomes[c.Outcome()] = true
		if c.Ledger() > LedgerMissedReturns {
			t.Errorf("counter %s: no ledger %d", c.Outcome(), c.Ledger())
		}
	}
	// The metric's outcomes, as dashboards and alerts know them.
	want := []string{"entered", "submitted", "filtered_entry", "filtered_duration", "filtered_errors", "sampled_out",
		"dropped_inflight_full", "dropped_depth", "dropped_ringbuf_full", "missed_return", "orphan_return", "blocked_stack_lost"}
	var got []string
	for _, c := range all {
		got = append(got, c.Outcome())
	}
	if !slices.Equal(got, want) {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	for l := LedgerCalls; l <= LedgerMissedReturns; l++ {
		if l != LedgerSubmitted && l.Column() == "" {
			t.Errorf("ledger %d has no summary column", l)
		}
	}
}

func TestProbeCountsAdd(t *testing.T) {
	var a, b ProbeCounts
	if len(a.Counts) != 12 || len(a.LatencyLog2) != 64 {
		t.Fatalf("ProbeCounts has %d counters and %d buckets; the test expects 12 counters, the latency sum, the sched sums and 64 buckets", len(a.Counts), len(a.LatencyLog2))
	}
	// Every counter and every latency bucket gets its own value, so that one Add misses shows.
	for i := range a.Counts {
		a.Counts[i], b.Counts[i] = uint64(1+i), uint64(100*(1+i))
	}
	a.LatencySumNs, b.LatencySumNs = 1000, 100000
	a.OnCpuSumNs, b.OnCpuSumNs = 3, 300
	a.RunqueueSumNs, b.RunqueueSumNs = 5, 500
	a.BlockedSumNs, b.BlockedSumNs = 7, 700
	for i := range a.LatencyLog2 {
		a.LatencyLog2[i], b.LatencyLog2[i] = uint64(2000+i), uint64(200000+i)
	}
	a.Add(&b)
	for i, n := range a.Counts {
		if want := uint64(101 * (1 + i)); n != want {
			t.Errorf("after Add, counter %s = %d, want %d", Counter(i).Outcome(), n, want)
		}
		if b.Counts[i] != uint64(100*(1+i)) {
			t.Errorf("Add changed its argument's counter %d", i)
		}
	}
	if a.LatencySumNs != 101000 {
		t.Errorf("after Add, latency sum %d", a.LatencySumNs)
	}
	if a.OnCpuSumNs != 303 || a.RunqueueSumNs != 505 || a.BlockedSumNs != 707 {
		t.Errorf("after Add, sched sums %d %d %d", a.OnCpuSumNs, a.RunqueueSumNs, a.BlockedSumNs)
	}
	for i, n := range a.LatencyLog2 {
		if want := uint64(202000 + 2*i); n != want {
			t.Errorf("after Add, bucket %d = %d, want %d", i, n, want)
		}
	}
}

func counts(values map[Counter]uint64) ProbeCounts {
	var c ProbeCounts
	for k, n := range values {
		c.Counts[k] = n
	}
	return c
}

func TestProbeCountsFilteredDropped(t *testing.T) {
	c := counts(map[Counter]uint64{
		CounterEntered: 1000, CounterSubmitted: 500,
		CounterFilteredEntry: 1, CounterFilteredDuration: 20, CounterFilteredErrors: 300,
		CounterSampledOut:       4000,
		CounterDropInflightFull: 5, CounterDropDepth: 60, CounterDropRingbufFull: 700, CounterMissedReturn: 8000,
		CounterOrphanReturn: 90000,
	})
	if got := c.Filtered(); got != 321 {
		t.Errorf("Filtered() = %d, want 321 (entry + duration + errors)", got)
	}
	if got := c.Dropped(); got != 8765 {
		t.Errorf("Dropped() = %d, want 8765 (inflight + depth + ringbuf + missed returns)", got)
	}
	if got := c.Sum(LedgerDropped); got != 765 {
		t.Errorf("the summary's DROPPED = %d, want 765 (inflight + depth + ringbuf)", got)
	}
	var zero ProbeCounts
	if zero.Filtered() != 0 || zero.Dropped() != 0 {
		t.Error("zero counters are not zero")
	}
	// Summing per-CPU values then deriving equals deriving then summing.
	var total ProbeCounts
	total.Add(&c)
	total.Add(&c)
	if total.Filtered() != 2*c.Filtered() || total.Dropped() != 2*c.Dropped() {
		t.Errorf("Add then derive: %d %d", total.Filtered(), total.Dropped())
	}
}

func TestProbeCountsInFlight(t *testing.T) {
	c := counts(map[Counter]uint64{CounterEntered: 100, CounterSubmitted: 50, CounterFilteredEntry: 5, CounterFilteredDuration: 5,
		CounterSampledOut: 10, CounterDropDepth: 3, CounterMissedReturn: 2})
	if got := c.InFlight(); got != 25 {
		t.Errorf("InFlight() = %d, want 100 - (50+10+10+5) = 25", got)
	}
	// An orphan return is a return without an entry: it does not end an entered call.
	c.Counts[CounterOrphanReturn] = 1000
	if got := c.InFlight(); got != 25 {
		t.Errorf("InFlight() with orphans = %d, want 25", got)
	}
	// Counters read across CPUs at slightly different times can end more calls than entered.
	c.Counts[CounterSubmitted] = 200
	if got := c.InFlight(); got != 0 {
		t.Errorf("InFlight() with more ended than entered = %d, want 0", got)
	}
	c = counts(map[Counter]uint64{CounterEntered: 7, CounterSubmitted: 7})
	if got := c.InFlight(); got != 0 {
		t.Errorf("InFlight() of a balanced probe = %d", got)
	}
}
