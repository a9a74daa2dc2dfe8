// Package summary writes kretspan's exit summary (the per-probe ledger, the kernel's own miss
// counts, user space's losses, and latency histograms) and parses it back, so that the tests and
// the benchmarks read the format from the one place that defines it.
package summary

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

// UserSpace is user space's part of the ledger: what became of the events read from the kernel.
type UserSpace struct {
	Received, Exported, DroppedQueue, ExportFailed uint64
	ExportedByID                                   []uint64            // by probe id
	Latency                                        []*LatencyHistogram // by probe id; nil for a probe without events
}

// Write accounts for every call of every probe: calls = exported + filtered + sampled out +
// dropped (kernel and user space) + missed returns + still in flight when tracing stopped.
func Write(w io.Writer, targets []probe.Target, counters []bpf.ProbeCounts, misses bpf.KernelMisses, stats UserSpace) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, header)
	for _, l := range bpf.Ledgers() {
		fmt.Fprintf(tw, "\t%s", l.Column())
	}
	fmt.Fprintln(tw, "\tIN FLIGHT\tP50\tP99\t")
	for _, t := range targets {
		c := counters[t.ID]
		fmt.Fprint(tw, t.Label())
		for _, l := range bpf.Ledgers() {
			n := c.Sum(l)
			if l == bpf.LedgerSubmitted {
				n = stats.ExportedByID[t.ID]
			}
			fmt.Fprintf(tw, "\t%d", n)
		}
		var p50, p99 time.Duration
		if h := stats.Latency[t.ID]; h != nil {
			p50, p99 = roundDuration(h.Quantile(0.5)), roundDuration(h.Quantile(0.99))
		}
		fmt.Fprintf(tw, "\t%d\t%v\t%v\t\n", c.InFlight(), p50, p99)
	}
	tw.Flush()
	fmt.Fprintf(w, kernelFormat+"\n", misses.Probe, misses.Recursion)
	fmt.Fprintf(w, userSpaceFormat+"\n", stats.Received, stats.Exported, stats.DroppedQueue, stats.ExportFailed)
}

// roundDuration keeps three significant digits, which is more than the histogram resolves
// (1/16): 989.855744ms is 990ms.
func roundDuration(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d/unit >= 1000 {
		unit *= 10
	}
	return (d + unit/2) / unit * unit
}

// maxHistograms bounds the histograms printed at exit; globs can make thousands of probes.
const maxHistograms = 20

// WriteHistograms prints each busy probe's in-kernel latency histogram of every call, filtered
// and sampled out ones included, in the manner of bcc's funclatency.
func WriteHistograms(w io.Writer, targets []probe.Target, counters []bpf.ProbeCounts) {
	busy := slices.Clone(targets)
	busy = slices.DeleteFunc(busy, func(t probe.Target) bool { return counters[t.ID].Counts[bpf.CounterEntered] == 0 })
	slices.SortStableFunc(busy, func(a, b probe.Target) int {
		return cmp.Compare(counters[b.ID].Counts[bpf.CounterEntered], counters[a.ID].Counts[bpf.CounterEntered])
	})
	if len(busy) > maxHistograms {
		fmt.Fprintf(w, "\nlatency of every call, the %d busiest of %d probes:\n", maxHistograms, len(busy))
		busy = busy[:maxHistograms]
	}
	for _, t := range busy {
		fmt.Fprintf(w, "\n%s\n", t.Label())
		writeHistogram(w, counters[t.ID].LatencyLog2[:])
	}
}

// writeHistogram prints log2 buckets (bucket k: [2^k, 2^(k+1)) ns) from the first to the last
// non-empty one.
func writeHistogram(w io.Writer, buckets []uint64) {
	first, last := -1, -1
	var peak uint64
	for i, n := range buckets {
		if n > 0 {
			if first < 0 {
				first = i
			}
			last = i
			peak = max(peak, n)
		}
	}
	if first < 0 {
		return
	}
	const width = 40
	fmt.Fprintf(w, "%24s : %-10s %s\n", "nsecs", "count", "distribution")
	for i := first; i <= last; i++ {
		low, high := uint64(1)<<i, uint64(1)<<(i+1)-1
		if i == 0 {
			low = 0
		}
		bar := strings.Repeat("*", int(buckets[i]*width/peak))
		fmt.Fprintf(w, "%10d -> %-10d : %-10d |%-*s|\n", low, high, buckets[i], width, bar)
	}
}

// WriteSchedSplit prints, for each probe with the scheduler split (--sched), how the time of its
// calls divides: on a CPU, runnable and waiting for one, and blocked.
func WriteSchedSplit(w io.Writer, targets []probe.Target, counters []bpf.ProbeCounts) {
	var rows []probe.Target
	for _, t := range targets {
		if c := counters[t.ID]; c.OnCpuSumNs+c.RunqueueSumNs+c.BlockedSumNs > 0 {
			rows = append(rows, t)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nhow the calls' time divides (--sched):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "probe\ton CPU\trunnable\tblocked\t")
	for _, t := range rows {
		c := counters[t.ID]
		total := float64(c.OnCpuSumNs + c.RunqueueSumNs + c.BlockedSumNs)
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t%.1f%%\t\n", t.Label(),
			100*float64(c.OnCpuSumNs)/total, 100*float64(c.RunqueueSumNs)/total, 100*float64(c.BlockedSumNs)/total)
	}
	tw.Flush()
}
