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
				ns, s, err := measureTraced(cfg.Kretspan, append(args, h.spec), measure)
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
// times the same probe's without arguments.
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
	return rows
}
