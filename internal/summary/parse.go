package summary

import (
	"fmt"
	"strings"
)

const (
	header          = "PROBE"
	kernelFormat    = "kernel: %d kprobe hits missed (kretprobe maxactive, reentrancy), %d program runs skipped for recursion"
	userSpaceFormat = "user space: %d events received, %d spans exported, %d dropped (export queue full), %d failed to export"
)

// Row is one probe's ledger.
type Row struct {
	Label                                                                   string
	Calls, Exported, Filtered, SampledOut, Dropped, MissedReturns, InFlight uint64
}

// Summary is a parsed exit summary.
type Summary struct {
	Rows                                         []Row
	KprobeMissed, RecursionSkipped               uint64
	Received, UserExported, QueueDropped, Failed uint64
}

// Parse reads the summary kretspan writes at exit from its stderr.
func Parse(stderr string) (Summary, error) {
	var s Summary
	lines := strings.Split(stderr, "\n")
	start := -1
	for i, line := range lines {
		if fields := strings.Fields(line); len(fields) > 1 && fields[0] == header {
			start = i + 1
		}
	}
	if start < 0 {
		return s, fmt.Errorf("no summary in kretspan's output")
	}
	for _, line := range lines[start:] {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "kernel:"):
			if _, err := fmt.Sscanf(trimmed, kernelFormat, &s.KprobeMissed, &s.RecursionSkipped); err != nil {
				return s, fmt.Errorf("summary line %q: %w", trimmed, err)
			}
		case strings.HasPrefix(trimmed, "user space:"):
			if _, err := fmt.Sscanf(trimmed, userSpaceFormat, &s.Received, &s.UserExported, &s.QueueDropped, &s.Failed); err != nil {
				return s, fmt.Errorf("summary line %q: %w", trimmed, err)
			}
			return s, nil
		case trimmed != "":
			var r Row
			var p50, p99 string
			if _, err := fmt.Sscan(trimmed, &r.Label, &r.Calls, &r.Exported, &r.Filtered, &r.SampledOut, &r.Dropped,
				&r.MissedReturns, &r.InFlight, &p50, &p99); err != nil {
				return s, fmt.Errorf("summary row %q: %w", trimmed, err)
			}
			s.Rows = append(s.Rows, r)
		}
	}
	return s, fmt.Errorf("no user-space line in kretspan's summary")
}

// Row returns the row of the one probe whose label ends with suffix.
func (s Summary) Row(suffix string) (Row, error) {
	var found []Row
	for _, r := range s.Rows {
		if strings.HasSuffix(r.Label, suffix) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return Row{}, fmt.Errorf("%d summary rows end with %q", len(found), suffix)
	}
	return found[0], nil
}

// Values are the row's counts in the order they are printed: calls, exported, filtered,
// sampled out, dropped, missed returns, in flight.
func (r Row) Values() []uint64 {
	return []uint64{r.Calls, r.Exported, r.Filtered, r.SampledOut, r.Dropped, r.MissedReturns, r.InFlight}
}
