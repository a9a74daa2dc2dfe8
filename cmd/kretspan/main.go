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
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

const usageText = `Usage:
  kretspan [flags] PROBE...     trace calls and export each as a span, until SIGINT/SIGTERM or --duration
  kretspan list [--binary PATH] [PATTERN]
                                what can be probed: kernel functions, syscall:NAME, a binary's symbols
  kretspan check [PROBE...]     what this kernel supports, and how each PROBE would attach

Probes:
` + probe.Usage + `

Exit status: 0 success, 1 failure at run time, 2 bad usage or input.

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
		fmt.Fprintf(stderr, "kretspan: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "kretspan: %v\n", err)
		return 1
	}
}

func runTrace(args []string, stdout, stderr io.Writer) error {
	flags, specArgs, err := parseArgs(args, stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	s, err := flags.resolveSettings(specArgs)
	if err != nil {
		return err
	}
	specs, err := s.parseSpecs()
	if err != nil {
		return err
	}
	if err := otelbridge.CheckEnvironment(os.LookupEnv); err != nil {
		return usageError{err}
	}
	if err := bpf.CheckPrivileges(); err != nil {
		return err
	}
	if err := bpf.RemoveMemlock(); err != nil {
		return err
	}
	features := bpf.DetectFeatures()
	kernel := &probe.Kernel{Fentry: features.Fentry == nil, Kprobes: features.Kprobes == nil, KprobeMulti: features.KprobeMulti == nil, TracefsDir: features.TracefsDir}
	targets, notes, err := probe.Resolve(specs, kernel, s.MaxGlob)
	if err != nil {
		return usageError{err}
	}
	for _, note := range notes {
		fmt.Fprintf(stderr, "kretspan: %s\n", note)
	}

	filters := map[string]probeSettings{}
	for _, p := range s.Probes {
		filters[p.Spec] = p
	}
	probes := make([]bpf.Probe, len(targets))
	infos := make([]otelbridge.ProbeInfo, len(targets)+1)
	for i, t := range targets {
		probes[i] = bpf.Probe{Target: t, Filter: s.filter(filters[t.Spec.Raw])}
		infos[t.ID] = otelbridge.NewProbeInfo(t)
	}

	markers, scanned, err := findMarkers(s)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sink, err := newSink(ctx, s, stdout)
	if err != nil {
		return err
	}
	resource, err := otelbridge.DetectResource(ctx)
	if err != nil {
		return err
	}
	pipeline, err := otelbridge.NewPipeline(sink, infos, otelbridge.ResourceProto(resource), otelbridge.NewWallClock(otelbridge.SystemClocks()),
		otelbridge.WithBatchSize(s.BatchSize), otelbridge.WithBatchTimeout(s.BatchTimeout), otelbridge.WithQueueBatches(s.QueueBatches))
	if err != nil {
		return usageError{err}
	}

	tracer, err := bpf.Start(bpf.Config{
		KernelThreads:  s.KernelThreads,
		PIDs:           s.PIDs,
		Comm:           s.Comm,
		ExcludePID:     uint32(os.Getpid()),
		MaxInflight:    s.MaxInflight,
		RingBufferSize: s.RingBufferSize,
		WakeupBytes:    uint64(s.BatchSize * bpf.EventSize),
		KprobeMulti:    features.KprobeMulti == nil,
		Correlate:      !s.NoCorrelation,
		BPFFS:          s.BPFFS,
		Markers:        markers,
	}, probes)
	if err != nil {
		_ = pipeline.Close(context.Background())
		return err
	}
	defer tracer.Close()
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
	fmt.Fprintf(stderr, "kretspan: tracing %d targets; exporting to %s. Ctrl-C to stop.\n", len(targets), exporterName(s))

	if s.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Duration)
		defer cancel()
	}
	go func() {
		<-ctx.Done()
		tracer.Stop()
	}()
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	metricsDone := make(chan error, 1)
	if s.Exporter == "otlp" && s.MetricsInterval > 0 {
		metrics, err := newMetricsExporter(ctx, s, resource, targets, tracer, pipeline)
		if err != nil {
			return err
		}
		go func() { metricsDone <- metrics.Run(metricsCtx, s.MetricsInterval) }()
	} else {
		metricsDone <- nil
	}

	statusCtx, stopStatus := context.WithCancel(ctx)
	statusDone := make(chan struct{})
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		go func() {
			defer close(statusDone)
			showStatus(statusCtx, f, pipeline)
		}()
	} else {
		close(statusDone)
	}
	readErr := tracer.Read(pipeline.Add, pipeline.Idle)
	stopStatus()
	<-statusDone  // the status line is cleared before the summary is printed
	tracer.Stop() // a read error ends tracing too

	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	closeErr := pipeline.Close(shutdown)
	stopMetrics() // the final export carries the final counts
	if err := <-metricsDone; err != nil {
		fmt.Fprintf(stderr, "kretspan: %v\n", err) // like failed span exports: reported, not fatal
	}
	counters, countErr := tracer.Counters()
	if countErr == nil {
		summary.WriteHistograms(stderr, targets, counters)
		fmt.Fprintln(stderr)
		summary.Write(stderr, targets, counters, tracer.Misses(), pipeline.Stats())
	}
	if err := pipeline.LastError(); err != nil {
		fmt.Fprintf(stderr, "kretspan: last export error: %v\n", err)
	}
	return errors.Join(readErr, closeErr, countErr)
}

// findMarkers finds the span-binding marker in the --correlate binaries (each must have it: these
// are required) and in running processes, those of --pid or all of them (scanned).
func findMarkers(s settings) (required, scanned []probe.Marker, err error) {
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

func exporterName(s settings) string {
	if s.Exporter != "otlp" {
		return s.Exporter
	}
	for _, env := range []string{s.OTLPEndpoint, os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")} {
		if env != "" {
			return "OTLP " + env
		}
	}
	return "OTLP " + otelbridge.DefaultEndpoint
}

func newMetricsExporter(ctx context.Context, s settings, res *resource.Resource, targets []probe.Target, tracer *bpf.Tracer, pipeline *otelbridge.Pipeline) (*otelbridge.MetricsExporter, error) {
	var opts []otlpmetricgrpc.Option
	if s.OTLPEndpoint != "" {
		opts = append(opts, otlpmetricgrpc.WithEndpointURL(s.OTLPEndpoint))
	}
	source := otelbridge.LedgerSource{Counters: tracer.Counters, Pipeline: pipeline}
	return otelbridge.NewMetricsExporter(ctx, res, targets, source, opts...)
}

func newSink(ctx context.Context, s settings, stdout io.Writer) (otelbridge.Sink, error) {
	switch s.Exporter {
	case "console":
		return otelbridge.NewConsoleSink(stdout), nil
	case "none":
		return otelbridge.DiscardSink{}, nil
	}
	var opts []otlptracegrpc.Option
	if s.OTLPEndpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpointURL(s.OTLPEndpoint))
	}
	sink, err := otelbridge.NewOTLPSink(ctx, opts...)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return sink, nil
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
