package bench

import (
	"fmt"
	"strings"
)

// The argument rows: the same probe with and without --args, on the same workload, so that the
// arguments' own cost is the difference.
const (
	VNoArgs = "kretspan --exporter none"
	VArgs   = "kretspan --exporter none --args"
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
		calls, reps := cfg.Calls, cfg.Reps
		if strings.HasPrefix(h.spec, "uprobe:") {
			calls, reps = cfg.UprobeCalls, max(cfg.UprobeReps, 1)
		}
		res := OverheadResult{Hook: h.name, Calls: calls, Reps: reps, Rows: []OverheadRow{{Variant: VBare}, {Variant: VNoArgs}, {Variant: VArgs}}}
		measure := func() ([]float64, error) { return overheadRun(workload, hook{call: h.call}, calls, 1) }
		for round := range reps {
			for i := range res.Rows {
				row := &res.Rows[i]
				if row.Err != nil {
					continue
				}
				fmt.Fprintf(cfg.Log, "arguments %s, round %d/%d: %s", h.name, round+1, reps, row.Variant)
				var ns []float64
				if row.Variant == VBare {
					ns, row.Err = measure()
				} else {
					args := []string{"--exporter", "none"}
					if row.Variant == VArgs {
						args = append(args, "--args")
					}
					var summary Summary
					ns, summary, row.Err = measureTraced(cfg.Kretspan, append(args, h.spec), measure)
					if row.Err == nil {
						row.Summary = &summary
						row.Note = fmt.Sprintf("calls %d, exported %d, dropped %d", summary.Calls, summary.Exported, summary.Dropped+summary.DroppedQueue+summary.ExportFailed)
					}
				}
				if row.Err != nil {
					fmt.Fprintf(cfg.Log, ": failed: %v\n", row.Err)
					continue
				}
				row.NsCalls = append(row.NsCalls, ns...)
				fmt.Fprintf(cfg.Log, ": %.0f ns/call\n", ns[len(ns)-1])
			}
		}
		results = append(results, res)
	}
	return results
}

// argsRows judge each hook's --args row: own work (over the bare loop) at most TargetArgsVsNone
// times the same probe's without arguments.
func argsRows(o OverheadResult) []tableRow {
	bare, none := o.Row(VBare), o.Row(VNoArgs)
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
