package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Results is everything Run measured.
type Results struct {
	Config     Config
	Machine    Machine
	LoadBefore string
	LoadAfter  string
	Elapsed    time.Duration
	E2E        []E2EResult
	Encoder    EncoderResult
	InProcess  InProcessResult
	Churn      ChurnResult
	Overhead   []OverheadResult
	Sched      SchedResult
	Args       []OverheadResult // the same probes with and without --args
}

// The performance targets kretspan holds itself to; the table says which are met. Absolute
// times differ between machines of one kind by about 2×, so the in-process targets are ratios
// to protobuf-go's proto.Marshal of the same spans, measured in the same run.
const (
	TargetEncoderVsMarshal   = 1.0 / 10 // Pipeline.Add per span ÷ proto.Marshal per span
	TargetInProcessVsMarshal = 1.0 / 6  // decode + build + encode, CPU per span ÷ proto.Marshal per span
	TargetAllocsPerSpan      = 0        // in steady state
	TargetSpansPerCPUFlatOut = 2_000_000
	TargetSpansPerCPUPaced   = 1_500_000 // at the paced run's offered rate
	TargetPeakRSSKB          = 64 << 10
	TargetVsBpftrace         = 0.25
	TargetVsMinimal          = 1.5
	TargetFiltered           = 1.0 / 3
	// Pipeline.Add per span with EncoderProcesses processes in each batch ÷ with one resource
	TargetProcessesVsOne = 1.10
	TargetChurnProcesses = 20_000 // short-lived processes the churn row starts
)

type tableRow struct{ part, row, result, detail, target, meets string }

// Print writes the machine and one table.
func (r *Results) Print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: Linux %s; %s; %d cores; %s RAM; %s\n", m.Kernel, m.CPU, m.Cores, m.MemTotal, m.Bpftrace)
	fmt.Fprintf(w, "load average before %s, after %s; took %v; %d calls × %d repetitions on tracepoints, %d × %d on the uprobe, medians\n\n",
		r.LoadBefore, r.LoadAfter, r.Elapsed.Round(time.Second), r.Config.Calls, r.Config.Reps, r.Config.UprobeCalls, r.Config.UprobeReps)
	var rows []tableRow
	for _, e := range r.E2E {
		rows = append(rows, e2eRows(e)...)
	}
	if !r.Config.ArgumentsOnly {
		rows = append(rows, encoderRows(r.Encoder, r.InProcess)...)
		rows = append(rows, processesRow(r.Encoder), churnRow(r.Churn))
	}
	for _, o := range r.Overhead {
		rows = append(rows, overheadRows(o)...)
	}
	rows = append(rows, schedRows(r.Sched)...)
	for _, o := range r.Args {
		rows = append(rows, argsRows(o)...)
	}
	printTable(w, []string{"PART", "ROW", "RESULT", "DETAIL", "TARGET", "MEETS"}, rows)
}

// encoderRows are the encoder's row and the in-process row, both judged against the encoder
// row's proto.Marshal.
func encoderRows(enc EncoderResult, ip InProcessResult) []tableRow {
	encRow := tableRow{part: "in process", row: fmt.Sprintf("Pipeline.Add (build + encode), %d-span batches vs proto.Marshal of the same request", encoderBatch),
		target: fmt.Sprintf("≤ 1/%.0f of proto.Marshal's", 1/TargetEncoderVsMarshal), meets: "-"}
	marshal := 0.0 // ns per span, when measured
	if enc.Err != nil {
		encRow.result = "failed: " + enc.Err.Error()
	} else {
		marshal = enc.Marshal()
		encRow.result = fmt.Sprintf("%.1f against %.1f ns/span: 1/%.1f", enc.Add(), marshal, marshal/enc.Add())
		encRow.detail = fmt.Sprintf("wall time, medians of %d rounds of %d batches each; Add %s ns/span, proto.Marshal %s; %.0f B/span",
			enc.Rounds, enc.Batches, fmtReps(enc.AddNsPerSpan), fmtReps(enc.MarshalNsPerSpan), enc.BytesPerSpan)
		if spread(enc.AddNsPerSpan) > 0.15 || spread(enc.MarshalNsPerSpan) > 0.15 {
			encRow.detail += "; NOISY (rounds differ by more than 15%)"
		}
		encRow.meets = yesNo(enc.Add() <= TargetEncoderVsMarshal*marshal)
	}

	ipRow := tableRow{part: "in process", row: "decode + build + encode (DecodeEvent, Pipeline.Add), the same spans, per span",
		target: fmt.Sprintf("≤ 1/%.0f of proto.Marshal's; %d allocs/span", 1/TargetInProcessVsMarshal, TargetAllocsPerSpan), meets: "-"}
	if ip.Err != nil {
		ipRow.result = "failed: " + ip.Err.Error()
		return []tableRow{encRow, ipRow}
	}
	ipRow.result = fmt.Sprintf("%.0f CPU-ns/span (%s spans/CPU-s), %.4f allocs/span", ip.CPUNsPerSpan, num(1e9/ip.CPUNsPerSpan), ip.AllocsPerSpan)
	ipRow.detail = fmt.Sprintf("%.0f wall-ns/span; %.1f allocs per %d-span batch; %.0f B/span encoded; %d dropped; %d spans",
		ip.WallNsPerSpan, ip.AllocsPerSpan*inProcessBatch, inProcessBatch, ip.BytesPerSpan, ip.DroppedQueueFull, ip.N)
	allocs := "allocs " + yesNo(ip.AllocsPerSpan <= TargetAllocsPerSpan)
	if marshal > 0 {
		ipRow.result += fmt.Sprintf("; 1/%.1f of proto.Marshal's %.1f ns/span", marshal/ip.CPUNsPerSpan, marshal)
		ipRow.meets = "ratio " + yesNo(ip.CPUNsPerSpan <= TargetInProcessVsMarshal*marshal) + ", " + allocs
	} else {
		ipRow.meets = "ratio ?, " + allocs
	}
	return []tableRow{encRow, ipRow}
}

// processesRow is Pipeline.Add with a resource per process against one resource, in the encoder
// row's rounds.
func processesRow(enc EncoderResult) tableRow {
	row := tableRow{part: "in process", row: fmt.Sprintf("Pipeline.Add, %d processes in each %d-span batch (a resource each, spans interleaved) vs one resource", EncoderProcesses, encoderBatch),
		target: fmt.Sprintf("≤ %.2f×", TargetProcessesVsOne), meets: "-"}
	if enc.Err != nil || len(enc.AddProcessesNsPerSpan) == 0 {
		row.result = "not measured"
		if enc.Err != nil {
			row.result = "failed: " + enc.Err.Error()
		}
		return row
	}
	ratio := enc.AddProcesses() / enc.Add()
	row.result = fmt.Sprintf("%.1f against %.1f ns/span: %.2f×", enc.AddProcesses(), enc.Add(), ratio)
	row.detail = fmt.Sprintf("wall time, medians of %d rounds, in turns with the encoder row; per round %s ns/span", enc.Rounds, fmtReps(enc.AddProcessesNsPerSpan))
	if spread(enc.AddProcessesNsPerSpan) > 0.15 {
		row.detail += "; NOISY (rounds differ by more than 15%)"
	}
	row.meets = yesNo(ratio <= TargetProcessesVsOne)
	return row
}

func e2eRows(e E2EResult) []tableRow {
	row := tableRow{part: "end to end", row: fmt.Sprintf("getppid → kretspan → %s, %s", e.Protocol.Name, e.Name)}
	if e.Err != nil {
		row.result, row.meets = "failed: "+e.Err.Error(), "-"
		return []tableRow{row}
	}
	s := e.Summary
	delivered := rate(e.Delivered, e.DeliverTime)
	perCPU := rate(s.UserExported, e.CPU)
	row.result = fmt.Sprintf("%s spans/s delivered, %s spans/CPU-s", num(delivered), num(perCPU))
	accounted := s.Calls == s.Exported+s.Filtered+s.SampledOut+s.Dropped+s.MissedReturns+s.InFlight+s.DroppedQueue+s.ExportFailed &&
		e.Delivered == s.UserExported
	row.detail = fmt.Sprintf("offered %s calls/s (%d calls in %v); kretspan CPU %.2fs, peak RSS %.1f MiB; %d spans, %.0f B/span, %d requests (+%d metrics); "+
		"drops: kernel %d, export queue %d, export failed %d, missed returns %d, kprobe misses %d, recursion skips %d; filtered %d, in flight %d; counted calls %d; all accounted for: %s",
		num(rate(e.Calls, e.Elapsed)), e.Calls, e.Elapsed.Round(time.Millisecond), e.CPU.Seconds(), float64(e.PeakRSSKB)/1024,
		e.Delivered, float64(e.Bytes)/float64(max(e.Delivered, 1)), e.Requests, e.MetricReqs,
		s.Dropped, s.DroppedQueue, s.ExportFailed, s.MissedReturns, s.KprobeMissed, s.RecursionSkipped, s.Filtered, s.InFlight, s.Calls, yesNo(accounted))
	target := float64(TargetSpansPerCPUFlatOut)
	if e.Rate > 0 {
		target = TargetSpansPerCPUPaced
	}
	row.target = fmt.Sprintf("≥ %s spans/CPU-s", num(target))
	row.meets = yesNo(perCPU >= target)
	rows := []tableRow{row}
	if e.Rate > 0 {
		rows = append(rows, tableRow{"end to end", fmt.Sprintf("peak RSS, %s, %s", e.Protocol.Name, e.Name), fmt.Sprintf("%.1f MiB VmHWM", float64(e.PeakRSSKB)/1024),
			fmt.Sprintf("offered %s calls/s", num(rate(e.Calls, e.Elapsed))), fmt.Sprintf("≤ %d MiB at 100k spans/s", TargetPeakRSSKB>>10), yesNo(e.PeakRSSKB <= TargetPeakRSSKB)})
	}
	return rows
}

func overheadRows(o OverheadResult) []tableRow {
	hookName := map[string]string{"tracepoint": "getppid, syscalls enter/exit tracepoints", "uprobe": "bench_func, uprobe + uretprobe"}[o.Hook]
	part := "overhead " + o.Hook
	empty, minimal, bt, kret := o.Row(VEmpty), o.Row(VMinimal), o.Row(VBpftrace), o.Row(VKretspan)
	own := func(r *OverheadRow) (float64, bool) {
		if r == nil || r.Err != nil || empty == nil || empty.Err != nil {
			return 0, false
		}
		return r.Median() - empty.Median(), true
	}
	var rows []tableRow
	for _, r := range o.Rows {
		row := tableRow{part: part, row: hookName + ": " + r.Variant, target: "-", meets: "-"}
		if r.Err != nil {
			row.result = "not run: " + r.Err.Error()
			rows = append(rows, row)
			continue
		}
		row.result = fmt.Sprintf("%.0f ns/call", r.Median())
		detail := []string{fmt.Sprintf("reps %s, min %.0f", fmtReps(r.NsCalls), slices.Min(r.NsCalls))}
		if w, ok := own(&r); ok && r.Variant != VBare && r.Variant != VEmpty {
			detail = append(detail, fmt.Sprintf("own work %.0f ns", w))
		}
		if r.Note != "" {
			detail = append(detail, r.Note)
		}
		row.detail = strings.Join(detail, "; ")
		switch {
		case r.Compared:
			w, _ := own(&r)
			var targets, meets []string
			if b, ok := own(bt); ok {
				t, m := ratio("own ≤ ¼ bpftrace's", w, b, TargetVsBpftrace)
				targets, meets = append(targets, t), append(meets, "bpftrace "+m)
			} else {
				targets = append(targets, "own ≤ ¼ bpftrace's: no bpftrace row")
			}
			if m, ok := own(minimal); ok {
				t, mm := ratio("own ≤ 1.5× minimal's", w, m, TargetVsMinimal)
				targets, meets = append(targets, t), append(meets, "minimal "+mm)
			}
			row.target, row.meets = strings.Join(targets, "; "), strings.Join(meets, ", ")
		case r.Variant == VSched:
			if k, ok := own(kret); ok {
				w, _ := own(&r)
				row.target, row.meets = ratio(fmt.Sprintf("own ≤ 1.3× without --sched (%.0f ns)", k), w, k, TargetSchedOwnWork)
			}
		case r.Variant == VMinDur || r.Variant == VSample:
			if k, ok := own(kret); ok {
				w, _ := own(&r)
				row.target, row.meets = ratio(fmt.Sprintf("filtered own ≤ ⅓ exported own (%.0f ns)", k), w, k, TargetFiltered)
			}
		}
		if spread(r.NsCalls) > 0.15 {
			row.detail += "; NOISY (repetitions differ by more than 15%)"
		}
		rows = append(rows, row)
	}
	return rows
}

// ratio checks own work w against base; when either is at or below zero the repetitions were
// noisier than the difference, and nothing can be said.
func ratio(label string, w, base, target float64) (string, string) {
	if w <= 0 || base <= 0 {
		return label + ": n/a (own work below the noise)", "?"
	}
	return fmt.Sprintf("%s: %.2f×", label, w/base), yesNo(w/base <= target)
}

func spread(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return (hi - lo) / median(v)
}

func fmtReps(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(s, "/")
}

func rate(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// num formats with thousands separators.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// printTable prints a Markdown table, padded so it also reads as plain text.
func printTable(w io.Writer, header []string, rows []tableRow) {
	cells := [][]string{header}
	for _, r := range rows {
		cells = append(cells, []string{r.part, r.row, r.result, r.detail, r.target, r.meets})
	}
	width := make([]int, len(header))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			b.WriteString(" " + s + strings.Repeat(" ", width[i]-len([]rune(s))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}
