package summary

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// ServiceSpans counts one service's spans: those exported, and those that failed to export.
type ServiceSpans struct {
	Service                string
	Exported, ExportFailed uint64
}

// Processes is what the cache of traced processes did: how many were read at their first
// record, and how many are cached when kretspan stops; of those read, how many had exited and
// were described by their exec record; and how many exec records the kernel lost to a full ring.
type Processes struct{ Read, Cached, FromExec, LostExecRecords uint64 }

const (
	serviceHeader   = "SERVICE"
	processesFormat = "processes: %d read at their first span, %d cached at the end (running, or with spans to export); " +
		"%d of them described by their exec record, having exited; %d exec records lost"
	// maxServiceRows bounds the service table; the rest are summed in one row.
	maxServiceRows = 20
)

// WriteServices prints the spans of each service, busiest first (as services are given), and
// the cache of processes. A service name may hold spaces; it is printed as it is.
func WriteServices(w io.Writer, services []ServiceSpans, processes Processes) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tEXPORTED\tFAILED\t\n", serviceHeader)
	for i, s := range services {
		if i == maxServiceRows {
			var rest ServiceSpans
			for _, s := range services[i:] {
				rest.Exported += s.Exported
				rest.ExportFailed += s.ExportFailed
			}
			fmt.Fprintf(tw, "(%d more services)\t%d\t%d\t\n", len(services)-i, rest.Exported, rest.ExportFailed)
			break
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", s.Service, s.Exported, s.ExportFailed)
	}
	tw.Flush()
	fmt.Fprintf(w, processesFormat+"\n", processes.Read, processes.Cached, processes.FromExec, processes.LostExecRecords)
}

// ParseServices reads back what WriteServices printed in kretspan's stderr.
func ParseServices(stderr string) ([]ServiceSpans, Processes, error) {
	var services []ServiceSpans
	var p Processes
	lines := strings.Split(stderr, "\n")
	start := -1
	for i, line := range lines {
		if fields := strings.Fields(line); len(fields) == 3 && fields[0] == serviceHeader {
			start = i + 1
		}
	}
	if start < 0 {
		return nil, p, fmt.Errorf("no service table in kretspan's output")
	}
	for _, line := range lines[start:] {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "processes:") {
			if _, err := fmt.Sscanf(trimmed, processesFormat, &p.Read, &p.Cached, &p.FromExec, &p.LostExecRecords); err != nil {
				return nil, p, fmt.Errorf("summary line %q: %w", trimmed, err)
			}
			return services, p, nil
		}
		fields := strings.Fields(trimmed)
		if len(fields) < 3 {
			return nil, p, fmt.Errorf("service row %q", trimmed)
		}
		var s ServiceSpans
		if _, err := fmt.Sscan(strings.Join(fields[len(fields)-2:], " "), &s.Exported, &s.ExportFailed); err != nil {
			return nil, p, fmt.Errorf("service row %q: %w", trimmed, err)
		}
		s.Service = strings.Join(fields[:len(fields)-2], " ")
		services = append(services, s)
	}
	return nil, p, fmt.Errorf("no processes line after the service table")
}
