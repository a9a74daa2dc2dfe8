package bench

import (
	"fmt"
	"io"
	"os/exec"
	"time"
)

// Variant names of the overhead rows.
const (
	VBare     = "no probe"
	VEmpty    = "empty BPF programs"
	VMinimal  = "minimal entry/return program"
	VKretspan = "kretspan --exporter none"
	VBpftrace = "bpftrace 0.17 entry/return printf"
	VMinDur   = "kretspan --min-duration 1ms (none)"
	VSample   = "kretspan --sample 0.01 (none)"
)

// VExporting is the variant of kretspan exporting over p to the receiver.
func VExporting(p OTLPProtocol) string { return "kretspan, " + p.Name + " to the receiver" }

// OverheadRow is one variant on one hook.
type OverheadRow struct {
	Variant string
	// Compared marks kretspan tracing every call (VKretspan, VExporting): its own work is
	// compared with bpftrace's and the minimal program's.
	Compared bool
	NsCalls  []float64 // per repetition
	Err      error     // why it did not run
	Note     string    // counts that check the variant did its work
	Summary  *Summary  // kretspan's
	// The argument rows' kretspan variants: the kernel's accounting of kretspan's entry and
	// return programs over a second pass of the workload, per repetition (BPFErr: why not).
	BPF    []BPFRunTime
	BPFErr error
}

// BPFNsPerCall is each repetition's BPF run time per call.
func (r OverheadRow) BPFNsPerCall() []float64 {
	ns := make([]float64, len(r.BPF))
	for i, b := range r.BPF {
		ns[i] = b.NsPerCall()
	}
	return ns
}

// Median is the median ns per call.
func (r OverheadRow) Median() float64 { return median(r.NsCalls) }

// OverheadResult is every variant on one hook.
type OverheadResult struct {
	Hook  string
	Calls int
	Reps  int
	Rows  []OverheadRow
}

// Row returns the row of a variant.
func (o OverheadResult) Row(variant string) *OverheadRow {
	for i := range o.Rows {
		if o.Rows[i].Variant == variant {
			return &o.Rows[i]
		}
	}
	return nil
}

// variant is one row of a table whose rows take turns: run measures it once, into its row.
type variant struct {
	name     string
	compared bool // OverheadRow.Compared
	run      func(*OverheadRow) error
}

// bare is the variant that runs measure with nothing attached.
func bare(measure func() ([]float64, error)) func(*OverheadRow) error {
	return func(row *OverheadRow) error {
		ns, err := measure()
		row.NsCalls = append(row.NsCalls, ns...)
		return err
	}
}

// runRounds runs each variant once a round, in turns, for reps rounds, so that drift in the
// machine's load spreads over all of them instead of biasing one. A variant that fails is not
// run again: its row keeps the error. Progress goes to log as "label, round i/n: variant".
func runRounds(log io.Writer, label, unit string, reps int, variants []variant) []OverheadRow {
	rows := make([]OverheadRow, len(variants))
	for i, v := range variants {
		rows[i].Variant, rows[i].Compared = v.name, v.compared
	}
	for round := range reps {
		for i, v := range variants {
			row := &rows[i]
			if row.Err != nil {
				continue // failed in an earlier round
			}
			fmt.Fprintf(log, "%s, round %d/%d: %s", label, round+1, reps, v.name)
			start := time.Now()
			if row.Err = v.run(row); row.Err != nil {
				fmt.Fprintf(log, ": failed: %v\n", row.Err)
				continue
			}
			fmt.Fprintf(log, ": %.0f %s (%v)\n", row.NsCalls[len(row.NsCalls)-1], unit, time.Since(start).Round(time.Millisecond))
		}
	}
	return rows
}

func runOverhead(cfg Config, h hook, workload string, receiver *Receiver) OverheadResult {
	calls, reps := cfg.callsReps(h.name == "uprobe")
	probeSpec := "syscall:getppid"
	bt := `tracepoint:syscalls:sys_enter_getppid { @start[tid] = nsecs; }
tracepoint:syscalls:sys_exit_getppid /@start[tid]/ { printf("%d %d\n", tid, nsecs - @start[tid]); delete(@start[tid]); }`
	if h.name == "uprobe" {
		probeSpec = "uprobe:" + workload + ":" + benchFunc
		bt = fmt.Sprintf(`uprobe:%[1]s:%[2]s { @start[tid] = nsecs; }
uretprobe:%[1]s:%[2]s /@start[tid]/ { printf("%%d %%d\n", tid, nsecs - @start[tid]); delete(@start[tid]); }`, workload, benchFunc)
	}
	total := uint64(calls + 1000) // the workload warms up with 1000 calls
	// One repetition per attach: the variants take turns (runRounds).
	measure := func() ([]float64, error) { return overheadRun(workload, h, calls, 1) }

	// Each variant: attach, run the loop, detach; returns a note checking the work was done.
	kretspan := func(args ...string) func(*OverheadRow) error {
		return func(row *OverheadRow) error {
			ns, s, err := measureTraced(cfg.Kretspan, append(args, probeSpec), measure)
			if err != nil {
				return err
			}
			row.NsCalls, row.Summary = append(row.NsCalls, ns...), &s
			row.Note = fmt.Sprintf("calls %d (workload %d), exported %d, filtered %d, sampled out %d, dropped %d", s.Calls, total, s.Exported, s.Filtered, s.SampledOut, s.Dropped+s.DroppedQueue+s.ExportFailed)
			return nil
		}
	}
	variants := []variant{
		{VBare, false, bare(measure)},
		{VEmpty, false, func(row *OverheadRow) error {
			b, err := startEmpty(h)
			if err != nil {
				return err
			}
			ns, err := measure()
			row.NsCalls = append(row.NsCalls, ns...)
			b.stop()
			return err
		}},
		{VMinimal, false, func(row *OverheadRow) error {
			b, err := startMinimal(h)
			if err != nil {
				return err
			}
			ns, err := measure()
			row.NsCalls = append(row.NsCalls, ns...)
			n := b.stop()
			row.Note = fmt.Sprintf("%d records drained (workload %d calls)", n, total)
			return err
		}},
		{VKretspan, true, kretspan("--exporter", "none")},
	}
	for _, p := range protocols {
		variants = append(variants, variant{VExporting(p), true, kretspan(receiver.kretspanArgs(p)...)})
	}
	variants = append(variants, []variant{
		{VBpftrace, false, func(row *OverheadRow) error {
			if _, err := exec.LookPath("bpftrace"); err != nil {
				return fmt.Errorf("bpftrace is not installed (apt-get install bpftrace)")
			}
			t, err := startBpftrace(bt, 2)
			if err != nil {
				return err
			}
			ns, err := measure()
			row.NsCalls = append(row.NsCalls, ns...)
			if stopErr := t.stop(); err == nil {
				err = stopErr
			}
			return err
		}},
		{VSched, false, kretspan("--exporter", "none", "--sched")},
		{VMinDur, false, kretspan("--exporter", "none", "--min-duration", "1ms")},
		{VSample, false, kretspan("--exporter", "none", "--sample", "0.01")},
	}...)
	rows := runRounds(cfg.Log, "overhead "+h.name, "ns/call", reps, variants)
	return OverheadResult{Hook: h.name, Calls: calls, Reps: reps, Rows: rows}
}
