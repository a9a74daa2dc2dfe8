package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// The targets of --sched (table.go's style): the scheduler hooks slow a context-switch-heavy
// workload with no probed call in flight by at most 5%, and a probed call's own work with the
// split is at most 1.3× its own work without.
const (
	TargetSchedPingPong = 1.05
	TargetSchedOwnWork  = 1.3
)

// Variants of the ping-pong rows: kretspan traces getppid, which the ping-pong never calls, so
// its threads never have a probed call in flight; then reads, each a call that blocks.
const (
	VPingBare          = "no kretspan"
	VPingNoSched       = "kretspan syscall:getppid"
	VPingSched         = "kretspan --sched syscall:getppid"
	VPingReadSched     = "kretspan --sched syscall:read"
	VPingBlockedStacks = "kretspan --sched --blocked-stacks --blocked-stack-min 0 syscall:read"
	VSched             = "kretspan --sched --exporter none"
)

// SchedResult is the ping-pong's rows: ns per round (two context switches) per variant.
type SchedResult struct {
	Rounds int
	Rows   []OverheadRow
}

func runSched(cfg Config, workload string) SchedResult {
	rounds := cfg.Calls / 20 // a round costs tens of microseconds
	res := SchedResult{Rounds: rounds}
	measure := func() ([]float64, error) {
		lines, err := runWorkload(workload, "pingpong", "-", strconv.Itoa(rounds), "1")
		if err != nil {
			return nil, err
		}
		var v float64
		if len(lines) != 1 {
			return nil, fmt.Errorf("workload said %q", lines)
		}
		if _, err := fmt.Sscanf(lines[0], "ns_per_call %g", &v); err != nil {
			return nil, fmt.Errorf("workload said %q", lines[0])
		}
		return []float64{v}, nil
	}
	kretspan := func(args ...string) func(*OverheadRow) error {
		return func(row *OverheadRow) error {
			ns, s, err := measureTraced(cfg.Kretspan, append([]string{"--exporter", "none", "--comm", "loop"}, args...), measure)
			if err != nil {
				return err
			}
			row.NsCalls, row.Summary = append(row.NsCalls, ns...), &s
			row.Note = fmt.Sprintf("calls %d, exported %d", s.Calls, s.Exported)
			return nil
		}
	}
	variants := []variant{
		{VPingBare, false, bare(measure)},
		{VPingNoSched, false, kretspan("syscall:getppid")},
		{VPingSched, false, kretspan("--sched", "syscall:getppid")},
		{VPingReadSched, false, kretspan("--sched", "syscall:read")},
		{VPingBlockedStacks, false, kretspan("--sched", "--blocked-stacks", "--blocked-stack-min", "0", "syscall:read")},
	}
	res.Rows = runRounds(cfg.Log, "sched ping-pong", "ns/round", cfg.Reps, variants)
	return res
}

func (s SchedResult) row(variant string) *OverheadRow {
	return OverheadResult{Rows: s.Rows}.Row(variant)
}

// schedRows are the ping-pong's rows: the hooks' cost to threads with no call in flight, and
// the cost of a captured stack, from two blocking reads a round.
func schedRows(s SchedResult) []tableRow {
	noSched, readSched := s.row(VPingNoSched), s.row(VPingReadSched)
	var rows []tableRow
	for _, r := range s.Rows {
		row := tableRow{part: "sched", row: fmt.Sprintf("ping-pong, two threads on one CPU through pipes, %d rounds: %s", s.Rounds, r.Variant), target: "-", meets: "-"}
		if r.Err != nil {
			row.result = "not run: " + r.Err.Error()
			rows = append(rows, row)
			continue
		}
		row.result = fmt.Sprintf("%.0f ns/round", r.Median())
		detail := []string{fmt.Sprintf("reps %s", fmtReps(r.NsCalls))}
		if r.Note != "" {
			detail = append(detail, r.Note)
		}
		switch {
		case r.Variant == VPingSched && noSched != nil && noSched.Err == nil:
			row.target, row.meets = ratio("≤ 1.05× without --sched", r.Median(), noSched.Median(), TargetSchedPingPong)
		case r.Variant == VPingBlockedStacks && readSched != nil && readSched.Err == nil:
			// Two blocking reads a round, each a captured kernel and user stack.
			detail = append(detail, fmt.Sprintf("%.0f ns per captured stack (half a round's difference from --sched alone)", (r.Median()-readSched.Median())/2))
		}
		row.detail = strings.Join(detail, "; ")
		rows = append(rows, row)
	}
	return rows
}
