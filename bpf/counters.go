package bpf

// Counter is one of a probe's kernel counters (enum counter in kretspan.h, where each is named once).
type Counter = kretspanCounter

// The kernel's counters, as bpf2go generates them from enum counter.
const (
	CounterEntered          = kretspanCounterCOUNTER_ENTERED
	CounterSubmitted        = kretspanCounterCOUNTER_SUBMITTED
	CounterFilteredEntry    = kretspanCounterCOUNTER_FILTERED_ENTRY
	CounterFilteredDuration = kretspanCounterCOUNTER_FILTERED_DURATION
	CounterFilteredErrors   = kretspanCounterCOUNTER_FILTERED_ERRORS
	CounterSampledOut       = kretspanCounterCOUNTER_SAMPLED_OUT
	CounterDropInflightFull = kretspanCounterCOUNTER_DROP_INFLIGHT_FULL
	CounterDropDepth        = kretspanCounterCOUNTER_DROP_DEPTH
	CounterDropRingbufFull  = kretspanCounterCOUNTER_DROP_RINGBUF_FULL
	CounterMissedReturn     = kretspanCounterCOUNTER_MISSED_RETURN
	CounterOrphanReturn     = kretspanCounterCOUNTER_ORPHAN_RETURN
	CounterBlockedStackLost = kretspanCounterCOUNTER_BLOCKED_STACK_LOST
)

const counterCount = int(kretspanCounterCOUNTER_MAX)

// ProbeCounts are one probe's kernel counters (struct probe_counters in kretspan.h): a count per
// Counter, and the latency histogram of every call that returned, filtered or not.
type ProbeCounts = kretspanProbeCounters

// The counts array and the table below have one slot per enum value: a compile-time check.
var _ [counterCount]uint64 = ProbeCounts{}.Counts

// Ledger is where a counter sits in the exit summary's accounting: every call entered ends in
// exactly one of the ledgers after LedgerCalls, or is still in flight.
type Ledger uint8

const (
	LedgerOutside       Ledger = iota // not a call's end: a return whose entry kretspan never saw, a stack lost
	LedgerCalls                       // the calls entered
	LedgerSubmitted                   // handed to user space (the summary shows what user space exported instead)
	LedgerFiltered                    // filtered out in the kernel
	LedgerSampledOut                  // in a call tree sampled out
	LedgerDropped                     // lost in the kernel for want of room
	LedgerMissedReturns               // entered, but the return never came
)

// ledgerColumns name the exit summary's columns. Of the calls submitted to user space it shows
// how many were exported, since that is what reached the user.
var ledgerColumns = [...]string{LedgerCalls: "CALLS", LedgerSubmitted: "EXPORTED", LedgerFiltered: "FILTERED",
	LedgerSampledOut: "SAMPLED OUT", LedgerDropped: "DROPPED", LedgerMissedReturns: "MISSED RETURNS"}

// Column is the ledger's column in the exit summary.
func (l Ledger) Column() string { return ledgerColumns[l] }

// Ledgers lists the ledgers the exit summary shows, in its order.
func Ledgers() []Ledger {
	return []Ledger{LedgerCalls, LedgerSubmitted, LedgerFiltered, LedgerSampledOut, LedgerDropped, LedgerMissedReturns}
}

// counterTable gives every Counter its metric outcome and its ledger.
var counterTable = [counterCount]struct {
	outcome string
	ledger  Ledger
}{
	CounterEntered:          {"entered", LedgerCalls},
	CounterSubmitted:        {"submitted", LedgerSubmitted},
	CounterFilteredEntry:    {"filtered_entry", LedgerFiltered},
	CounterFilteredDuration: {"filtered_duration", LedgerFiltered},
	CounterFilteredErrors:   {"filtered_errors", LedgerFiltered},
	CounterSampledOut:       {"sampled_out", LedgerSampledOut},
	CounterDropInflightFull: {"dropped_inflight_full", LedgerDropped},
	CounterDropDepth:        {"dropped_depth", LedgerDropped},
	CounterDropRingbufFull:  {"dropped_ringbuf_full", LedgerDropped},
	CounterMissedReturn:     {"missed_return", LedgerMissedReturns},
	CounterOrphanReturn:     {"orphan_return", LedgerOutside},
	CounterBlockedStackLost: {"blocked_stack_lost", LedgerOutside},
}

// Counters lists every kernel counter of a probe, in the kernel's order.
func Counters() []Counter {
	all := make([]Counter, counterCount)
	for i := range all {
		all[i] = Counter(i)
	}
	return all
}

// Outcome names the counter in the kretspan.calls metric's outcome attribute.
func (c Counter) Outcome() string { return counterTable[c].outcome }

// Ledger is where the counter sits in the exit summary's accounting.
func (c Counter) Ledger() Ledger { return counterTable[c].ledger }

// Sum adds up the counters of a ledger.
func (c *ProbeCounts) Sum(l Ledger) uint64 {
	var sum uint64
	for k, n := range c.Counts {
		if counterTable[k].ledger == l {
			sum += n
		}
	}
	return sum
}

// Add accumulates other into c (summing per-CPU values).
func (c *ProbeCounts) Add(other *ProbeCounts) {
	for k := range c.Counts {
		c.Counts[k] += other.Counts[k]
	}
	c.LatencySumNs += other.LatencySumNs
	c.OnCpuSumNs += other.OnCpuSumNs
	c.RunqueueSumNs += other.RunqueueSumNs
	c.BlockedSumNs += other.BlockedSumNs
	for i := range c.LatencyLog2 {
		c.LatencyLog2[i] += other.LatencyLog2[i]
	}
}

// Filtered is every call filtered out in the kernel.
func (c *ProbeCounts) Filtered() uint64 { return c.Sum(LedgerFiltered) }

// Dropped is every call lost in the kernel: for want of room, or its return missed.
func (c *ProbeCounts) Dropped() uint64 { return c.Sum(LedgerDropped) + c.Sum(LedgerMissedReturns) }

// InFlight is the calls entered that have not yet ended in any ledger: their returns are still to
// come (or were lost without a later return on the thread to notice).
func (c *ProbeCounts) InFlight() uint64 {
	var ended uint64
	for k, n := range c.Counts {
		if l := counterTable[k].ledger; l != LedgerOutside && l != LedgerCalls {
			ended += n
		}
	}
	entered := c.Sum(LedgerCalls)
	if ended > entered {
		return 0 // entries counted on one CPU, returns on another, read at slightly different times
	}
	return entered - ended
}
