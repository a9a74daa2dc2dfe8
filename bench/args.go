package bench

import (
	"fmt"
	"strings"
)

// The argument rows: the same probe without --args (VKretspan) and with, on the same workload,
// so that the arguments' own cost is the difference.
const (
	VArgs = VKretspan + " --args"
	// TargetArgsVsNone bounds a probe's own work with arguments against the same probe's without.
	TargetArgsVsNone = 2.0
)

// argsHooks are the probes the argument rows measure: openat's 3 integers and a string, and a C
// function's 3 arguments.
func argsHooks(workload string) []struct{ name, call, spec string } {
	return []struct{ name, call, spec string }{
		{"openat (3 integers, 1 string)", "openat", "syscall:openat"},
		{"bench_func3 (3 arguments), uprobe", "func3", "uprobe:" + workload + ":bench_func3"},
	}
}

// runArgsOverhead measures each argument hook bare, traced without and with --args, taking turns.
func runArgsOverhead(cfg Config, workload string) []OverheadResult {
	var results []OverheadResult
	for _, h := range argsHooks(workload) {
		calls, reps := cfg.callsReps(strings.HasPrefix(h.spec, "uprobe:"))
		measure := func() ([]float64, error) { return overheadRun(workload, hook{call: h.call}, calls, 1) }
		kretspan := func(args ...string) func(*OverheadRow) error {
			return func(row *OverheadRow) error {
				// After the timed pass, still attached, the same loop again with BPF run-time
				// statistics on: they cost each program run two clock reads, which the timed
				// pass does not pay. Once the statistics fail, the later rounds skip the pass.
				var bpfStats func(pid int) error
				if row.BPFErr == nil {
					bpfStats = func(pid int) error {
						b, runErr, statsErr := measureBPFRunTime(pid, func() error { _, err := measure(); return err })
						if statsErr != nil {
							row.BPFErr = statsErr
						} else if runErr == nil {
							row.BPF = append(row.BPF, b)
						}
						return runErr
					}
				}
				ns, s, err := measureTracedThen(cfg.Kretspan, append(args, h.spec), measure, bpfStats)
				if err != nil {
					return err
				}
				row.NsCalls, row.Summary = append(row.NsCalls, ns...), &s
				row.Note = fmt.Sprintf("calls %d, exported %d, dropped %d", s.Calls, s.Exported, s.Dropped+s.DroppedQueue+s.ExportFailed)
				return nil
			}
		}
		variants := []variant{
			{VBare, false, bare(measure)},
			{VKretspan, false, kretspan("--exporter", "none")},
			{VArgs, false, kretspan("--exporter", "none", "--args")},
		}
		rows := runRounds(cfg.Log, "arguments "+h.name, "ns/call", reps, variants)
		results = append(results, OverheadResult{Hook: h.name, Calls: calls, Reps: reps, Rows: rows})
	}
	return results
}

// argsRows judge each hook's --args row: own work (over the bare loop) at most TargetArgsVsNone
// times the same probe's without arguments; then come the BPF run-time rows (argsBPFRows).
func argsRows(o OverheadResult) []tableRow {
	bare, none := o.Row(VBare), o.Row(VKretspan)
	var rows []tableRow
	for _, r := range o.Rows {
		row := tableRow{part: "arguments", row: o.Hook + ": " + r.Variant, target: "-", meets: "-"}
		if r.Err != nil {
			row.result = "not run: " + r.Err.Error()
			rows = append(rows, row)
			continue
		}
		row.result = fmt.Sprintf("%.0f ns/call", r.Median())
		detail := []string{fmt.Sprintf("reps %s", fmtReps(r.NsCalls))}
		if r.Variant != VBare && bare.Err == nil {
			detail = append(detail, fmt.Sprintf("own work %.0f ns", r.Median()-bare.Median()))
		}
		if r.Note != "" {
			detail = append(detail, r.Note)
		}
		row.detail = strings.Join(detail, "; ")
		if r.Variant == VArgs && bare.Err == nil && none.Err == nil {
			row.target, row.meets = ratio(fmt.Sprintf("own ≤ %.0f× without arguments (%.0f ns)", TargetArgsVsNone, none.Median()-bare.Median()),
				r.Median()-bare.Median(), none.Median()-bare.Median(), TargetArgsVsNone)
		}
		if spread(r.NsCalls) > 0.15 {
			row.detail += "; NOISY (repetitions differ by more than 15%)"
		}
		rows = append(rows, row)
	}
	return append(rows, argsBPFRows(o)...)
}

// argsBPFRows are the kernel's accounting of each kretspan variant's entry and return programs
// (BPFRunTime), the --args row judged against the one without arguments.
func argsBPFRows(o OverheadResult) []tableRow {
	var rows []tableRow
	noneNs := 0.0
	for _, v := range []string{VKretspan, VArgs} {
		r := o.Row(v)
		if r == nil || r.Err != nil {
			continue // its timed row says why
		}
		row := tableRow{part: "arguments", row: o.Hook + ": " + v + ", BPF run time (entry + return programs)", target: "-", meets: "-"}
		if len(r.BPF) == 0 {
			reason := "no statistics"
			if r.BPFErr != nil {
				reason = r.BPFErr.Error()
			}
			row.result = "not measured: " + reason
			rows = append(rows, row)
			continue
		}
		ns := r.BPFNsPerCall()
		m := median(ns)
		last := r.BPF[len(r.BPF)-1]
		row.result = fmt.Sprintf("%.0f ns/call", m)
		row.detail = fmt.Sprintf("reps %s; last: entry %.0f + return %.0f ns per call, %d calls (entry runs), %d returns",
			fmtReps(ns), float64(last.EntryNs)/float64(last.Calls), float64(last.ReturnNs)/float64(last.Calls), last.Calls, last.Returns)
		if r.BPFErr != nil {
			row.detail += "; a later round failed: " + r.BPFErr.Error()
		}
		if spread(ns) > 0.15 {
			row.detail += "; NOISY (repetitions differ by more than 15%)"
		}
		switch v {
		case VKretspan:
			noneNs = m
		case VArgs:
			if noneNs > 0 {
				row.target, row.meets = ratio(fmt.Sprintf("≤ %.0f× without arguments (%.0f ns)", TargetArgsVsNone, noneNs), m, noneNs, TargetArgsVsNone)
			}
		}
		rows = append(rows, row)
	}
	return rows
}
