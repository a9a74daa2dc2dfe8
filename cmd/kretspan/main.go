// Command kretspan turns kernel and user-space function calls into OpenTelemetry spans.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/cgroup"
	"github.com/kretspan/kretspan/config"
	"github.com/kretspan/kretspan/exporter"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
	"github.com/kretspan/kretspan/processinfo"
	"github.com/kretspan/kretspan/stacks"
)

const usageText = `Usage:
  kretspan [flags] PROBE...     trace calls and export each as a span, until SIGINT/SIGTERM or --duration
  kretspan list [-v] [--binary PATH] [PATTERN]
                                what can be probed: kernel functions, syscall:NAME, a binary's symbols;
                                -v: each one's arguments and their types
  kretspan check [--json] [PROBE...]
                                what this kernel supports, and how each PROBE would attach

Probes:
` + probe.Usage + `

Exit status: 0 success, 1 failure at run time (spans that failed to export or were abandoned
at --shutdown-timeout included), 2 bad usage or input.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "list":
		err = runList(args[1:], stdout)
	case len(args) > 0 && args[0] == "check":
		err = runCheck(args[1:], stdout)
	default:
		err = runTrace(args, stdout, stderr)
	}
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		printError(stderr, err)
		return 2
	default:
		printError(stderr, err)
		return 1
	}
}

// printError prints err as lines that each begin "kretspan: ", one per joined error.
func printError(stderr io.Writer, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			printError(stderr, e)
		}
		return
	}
	fmt.Fprintf(stderr, "kretspan: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
}

// usageError is bad input from the user: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func runTrace(args []string, stdout, stderr io.Writer) error {
	s, err := config.Load(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		config.PrintFlags(stdout)
		return err
	}
	if err != nil {
		return usageError{err}
	}
	// The first SIGINT or SIGTERM ends tracing; one during the shutdown (after either) ends the
	// wait for exports.
	ctx, stopTracing := context.WithCancel(context.Background())
	defer stopTracing()
	interrupted, abandon := context.WithCancelCause(context.Background())
	defer abandon(nil)
	var shuttingDown atomic.Bool
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		for {
			select {
			case sig := <-signals:
				if ctx.Err() != nil || shuttingDown.Load() {
					abandon(fmt.Errorf("%v during the shutdown", sig))
				} else {
					stopTracing()
				}
			case <-interrupted.Done():
				return
			}
		}
	}()
	t, err := setUp(ctx, s, stdout, stderr)
	if err != nil {
		return err
	}
	readErr := t.run(ctx, stderr)
	shuttingDown.Store(true)
	return t.shutDownAndReport(interrupted, readErr, stderr)
}

// trace is a run with its probes attached.
type trace struct {
	settings config.Settings
	targets  []probe.Target
	tracer   *bpf.Tracer
	pipeline *otelbridge.Pipeline
	metrics  *exporter.Metrics // nil: no metrics
	// processes reads the traced processes, from /proc or their exec records.
	processes *processinfo.Reader
	// stopMetrics ends the metrics' periodic exports; the final one is metrics.Close's.
	stopMetrics func()
}

// setUp resolves the probes, starts the exporters and attaches, reporting what it attached.
func setUp(ctx context.Context, s config.Settings, stdout, stderr io.Writer) (*trace, error) {
	// Named cgroups are checked first: a wrong one is bad input whatever the privileges.
	cgroups, err := cgroupDirs(s, stderr)
	if err != nil {
		return nil, err
	}
	if err := bpf.CheckPrivileges(); err != nil {
		return nil, err
	}
	if err := bpf.RemoveMemlock(); err != nil {
		return nil, err
	}
	specs := make([]probe.Spec, len(s.Probes))
	for i, p := range s.Probes {
		specs[i] = p.Spec
	}
	kernel := bpf.DetectFeatures().Kernel()
	targets, notes, err := probe.Resolve(specs, kernel, s.MaxGlob)
	if err != nil {
		return nil, usageError{err}
	}
	for _, note := range notes {
		fmt.Fprintf(stderr, "kretspan: %s\n", note)
	}
	filters := map[string]config.Probe{}
	for _, p := range s.Probes {
		filters[p.Spec.Raw] = p
	}
	probes := make([]bpf.Probe, len(targets))
	infos := make([]otelbridge.ProbeInfo, len(targets)+1)
	args := newArgSources(kernel)
	defer args.Close() // the plans are compiled: the binaries' debug information is done with
	for i, t := range targets {
		probes[i] = bpf.Probe{Target: t, Filter: s.ProbeFilter(filters[t.Spec.Raw])}
		if err := probes[i].Check(); err != nil {
			return nil, usageError{err}
		}
		if probes[i].Args, err = args.argPlan(t, s.ProbeArgs(filters[t.Spec.Raw])); err != nil {
			return nil, usageError{err}
		}
		infos[t.ID] = otelbridge.NewProbeInfo(t, probes[i].Filter.NotFailures)
		infos[t.ID].WithArgs(probes[i].Args)
	}
	markers, scanned, err := findMarkers(s)
	if err != nil {
		return nil, err
	}

	sink, err := exporter.NewTraceExporter(ctx, s.Exporter, exporter.Destination{Endpoint: s.Traces.Endpoint, Protocol: s.Traces.Protocol, Client: s.Traces.Client, Console: stdout})
	if err != nil {
		return nil, err
	}
	res, err := otelbridge.DetectResource(ctx, s.ServiceName)
	if err != nil {
		return nil, err
	}
	processes := processinfo.NewReader("/proc", s.ProcessCommandLine)
	pipelineOptions := []otelbridge.Option{otelbridge.WithBatchSize(s.BatchSize), otelbridge.WithBatchTimeout(s.BatchTimeout), otelbridge.WithQueueBatches(s.QueueBatches),
		otelbridge.WithProcesses(processes, otelbridge.UserNamedService(ctx, s.ServiceName))}
	var symbolizer *stacks.Symbolizer
	if s.BlockedStacks {
		symbolizer = stacks.New("/proc/kallsyms")
		pipelineOptions = append(pipelineOptions, otelbridge.WithBlockedStacks(symbolizer.Stack))
	}
	pipeline, err := otelbridge.NewPipeline(sink, infos, otelbridge.SpanResource(res), otelbridge.NewWallClock(otelbridge.SystemClocks()), pipelineOptions...)
	if err != nil {
		return nil, err
	}
	// Before attaching, so that an address in use is refused with nothing attached yet.
	metrics, err := exporter.NewMetrics(ctx, s.MetricsExporter, exporter.MetricsDestination{
		Endpoint: s.Metrics.Endpoint, Protocol: s.Metrics.Protocol, Interval: s.MetricsInterval, PrometheusAddress: s.PrometheusAddress,
	}, res, targets)
	if err != nil {
		_ = pipeline.Close(context.Background())
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("%w (--prometheus-address or OTEL_EXPORTER_PROMETHEUS_PORT choose another)", err)
		}
		return nil, err
	}
	tracer, err := bpf.Start(bpf.Config{
		KernelThreads:  s.KernelThreads,
		PIDs:           s.PIDs,
		Comm:           s.Comm,
		ExcludePID:     uint32(os.Getpid()),
		Cgroups:        cgroups,
		MaxInflight:    s.MaxInflight,
		RingBufferSize: s.RingBufferSize,
		WakeupBytes:    uint64(s.BatchSize * bpf.EventSize),
		Correlate:      !s.NoCorrelation,
		BPFFS:          s.BPFFS,
		Markers:        markers,
		Sched:          bpf.SchedOptions{BlockedStacks: s.BlockedStacks, BlockedStackMin: s.BlockedStackMin},
		ArgStringMax:   s.ArgStringMax,
		OnExec:         processes.AddExec,
	}, probes)
	if err != nil {
		if metrics != nil {
			_ = metrics.Close(context.Background())
		}
		_ = pipeline.Close(context.Background())
		return nil, err
	}
	if symbolizer != nil {
		symbolizer.SetSource(tracer.Stack)
	}
	t := &trace{settings: s, targets: targets, tracer: tracer, pipeline: pipeline, metrics: metrics, processes: processes}

	// Markers found by scanning are a convenience: one that cannot be attached is reported, not fatal.
	for _, m := range scanned {
		if err := tracer.AttachMarker(m); err != nil {
			fmt.Fprintf(stderr, "kretspan: not binding spans in %s: %v\n", m.Binary, err)
			continue
		}
		markers = append(markers, m)
	}
	for _, m := range markers {
		fmt.Fprintf(stderr, "kretspan: binding spans to threads in %s\n", m.Binary)
	}
	if metrics != nil {
		fmt.Fprintf(stderr, "kretspan: metrics go to %s\n", metrics.Where())
	}
	destination := s.Exporter
	if s.Exporter == exporter.TracesOTLP {
		destination = "OTLP " + s.Traces.Protocol + " " + s.Traces.Endpoint
	}
	summary.WriteReady(stderr, len(targets), destination)
	return t, nil
}

// run reads calls until ctx ends, --duration passes or reading fails, keeping a status line on
// a terminal and exporting metrics meanwhile.
func (t *trace) run(ctx context.Context, stderr io.Writer) error {
	if t.settings.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.settings.Duration)
		defer cancel()
	}
	go func() {
		<-ctx.Done()
		t.tracer.Stop()
	}()

	t.stopMetrics = func() {}
	if t.metrics != nil {
		// Not ctx: the exports go on while the pipeline flushes, until shutDownAndReport stops them.
		metricsCtx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			source := exporter.LedgerSource{Counts: t.tracer.Counts, Pipeline: t.pipeline}
			t.metrics.Run(metricsCtx, source, func(err error) { printMetricsError(stderr, err) })
		}()
		t.stopMetrics = func() {
			cancel()
			<-done
		}
	}

	statusCtx, stopStatus := context.WithCancel(ctx)
	statusDone := make(chan struct{})
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		go func() {
			defer close(statusDone)
			showStatus(statusCtx, f, t.pipeline)
		}()
	} else {
		close(statusDone)
	}
	err := t.tracer.Read(t.pipeline.Add, t.pipeline.Idle)
	stopStatus()
	<-statusDone    // the status line is cleared before the summary is printed
	t.tracer.Stop() // a read error ends tracing too
	return err
}

// shutDownAndReport exports what is still queued, the spans and then the final metrics, within
// --shutdown-timeout in all or until interrupted ends, detaches, and prints the summary. Spans
// not exported make it return an error: the exit status must not hide them.
func (t *trace) shutDownAndReport(interrupted context.Context, readErr error, stderr io.Writer) error {
	defer t.tracer.Close()
	shutdown, cancel := context.WithTimeoutCause(interrupted, t.settings.ShutdownTimeout,
		fmt.Errorf("--shutdown-timeout %v passed", t.settings.ShutdownTimeout))
	defer cancel()
	closeErr := t.pipeline.Close(shutdown)
	t.stopMetrics()
	if t.metrics != nil {
		if err := t.metrics.Close(shutdown); err != nil {
			printMetricsError(stderr, err) // like failed span exports: reported, not fatal
		}
	}
	counters, countErr := t.tracer.Counts()
	lostExecs, lostExecsErr := t.tracer.LostExecRecords()
	if countErr = errors.Join(countErr, lostExecsErr); countErr == nil {
		stats := t.pipeline.Stats()
		summary.WriteHistograms(stderr, t.targets, counters)
		summary.WriteSchedSplit(stderr, t.targets, counters)
		fmt.Fprintln(stderr)
		summary.Write(stderr, t.targets, counters, t.tracer.Misses(), summary.UserSpace{
			Received: stats.Received, Exported: stats.Exported, DroppedQueue: stats.DroppedQueue, ExportFailed: stats.ExportFailed,
			ExportedByID: stats.ExportedByID, Latency: stats.LatencyByProbe,
		})
		summary.WriteServices(stderr, stats.ByService, summary.Processes{Read: stats.ProcessesRead, Cached: stats.ProcessesCached,
			FromExec: t.processes.UsedExecRecords(), LostExecRecords: lostExecs})
	}
	if err := t.pipeline.LastError(); err != nil {
		printError(stderr, fmt.Errorf("last export error: %w", err))
	}
	var lostErr error
	if failed := t.pipeline.Stats().ExportFailed; failed > 0 {
		lostErr = fmt.Errorf("%d spans failed to export", failed)
	}
	return errors.Join(readErr, closeErr, countErr, lostErr)
}

// printMetricsError reports a failed metrics export, or says once that the endpoint refuses
// metrics, after which none are sent.
func printMetricsError(stderr io.Writer, err error) {
	var refused *exporter.RefusedError
	if errors.As(err, &refused) {
		fmt.Fprintf(stderr, "kretspan: %v; metrics are off for this run: --metrics-interval 0 turns them off\n", refused)
		return
	}
	printError(stderr, err)
}

// cgroupDirs resolves --cgroup and --container to the cgroup v2 directories the kernel filters
// by, each once, saying which cgroup each container is.
func cgroupDirs(s config.Settings, stderr io.Writer) ([]string, error) {
	var dirs []string
	add := func(dir string) {
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	for _, path := range s.Cgroups {
		dir, err := cgroup.Dir(path)
		if err != nil {
			return nil, usagef("--cgroup %s: %v", path, err)
		}
		add(dir)
	}
	for _, id := range s.Containers {
		c, err := cgroup.FindContainer(id)
		if err != nil {
			return nil, usagef("--container %s: %v", id, err)
		}
		fmt.Fprintf(stderr, "kretspan: container %s is cgroup %s\n", c.ID, c.Dir)
		add(c.Dir)
	}
	return dirs, nil
}

// findMarkers finds the span-binding marker in the --correlate binaries (each must have it: these
// are required) and in running processes, those of --pid or all of them (scanned).
func findMarkers(s config.Settings) (required, scanned []probe.Marker, err error) {
	if s.NoCorrelation {
		return nil, nil, nil
	}
	seen := map[string]bool{}
	for _, path := range s.Correlate {
		binary, err := probe.ResolveBinary(path)
		if err != nil {
			return nil, nil, usagef("--correlate: %v", err)
		}
		m, ok := probe.FindMarker(binary)
		if !ok {
			return nil, nil, usagef("--correlate %s: no %s function in it; link kretspan's spanbind package or include kretspan_bind.h", path, probe.MarkerSymbol)
		}
		seen[m.Binary] = true
		required = append(required, m)
	}
	for _, m := range probe.ScanMarkers(s.PIDs) {
		if !seen[m.Binary] {
			seen[m.Binary] = true
			scanned = append(scanned, m)
		}
	}
	return required, scanned, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// showStatus keeps a status line on the terminal until ctx ends: events per second, spans
// exported, and everything lost so far.
func showStatus(ctx context.Context, terminal io.Writer, pipeline *otelbridge.Pipeline) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(terminal, "\r\033[K")
			return
		case <-ticker.C:
			s := pipeline.Stats()
			fmt.Fprintf(terminal, "\r\033[Kkretspan: %d events/s, %d spans exported, %d dropped (queue full), %d failed to export",
				s.Received-last, s.Exported, s.DroppedQueue, s.ExportFailed)
			last = s.Received
		}
	}
}
