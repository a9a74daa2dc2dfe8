package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// printSummary accounts for every call of every probe: calls = exported + filtered + sampled out +
// dropped (kernel and user space) + still in flight when tracing stopped.
func printSummary(w io.Writer, targets []probe.Target, counters []bpf.ProbeCounters, stats otelbridge.Stats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PROBE\tCALLS\tEXPORTED\tFILTERED\tSAMPLED OUT\tDROPPED\tMISSED RETURNS\tIN FLIGHT\tP50\tP99\t")
	for _, t := range targets {
		c := counters[t.ID]
		var p50, p99 time.Duration
		if h := stats.LatencyByProbe[t.ID]; h != nil {
			p50, p99 = h.Quantile(0.5), h.Quantile(0.99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%v\t\n", t.Label(), c.Entered, stats.ExportedByID[t.ID],
			c.Filtered(), c.SampledOut, c.DropInflightFull+c.DropDepth+c.DropRingbufFull, c.MissedReturn, c.InFlight(), p50, p99)
	}
	tw.Flush()
	fmt.Fprintf(w, "user space: %d events received, %d spans exported, %d dropped (export queue full), %d failed to export\n",
		stats.Received, stats.Exported, stats.DroppedQueue, stats.ExportFailed)
}
