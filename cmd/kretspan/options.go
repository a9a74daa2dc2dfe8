package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// usageError is bad input from the user: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// settings is everything a run is configured with, from --config and then the flags.
type settings struct {
	Exporter        string          `yaml:"exporter"`
	OTLPEndpoint    string          `yaml:"otlp_endpoint"`
	Duration        time.Duration   `yaml:"duration"`
	PIDs            []uint32        `yaml:"pids"`
	Comm            string          `yaml:"comm"`
	KernelThreads   bool            `yaml:"kernel_threads"`
	MaxInflight     uint32          `yaml:"max_inflight"`
	MaxGlob         int             `yaml:"max_glob"`
	RingBufferSize  uint32          `yaml:"ringbuf_size"`
	BatchSize       int             `yaml:"batch_size"`
	BatchTimeout    time.Duration   `yaml:"batch_timeout"`
	QueueBatches    int             `yaml:"queue_batches"`
	MetricsInterval time.Duration   `yaml:"metrics_interval"`
	NoCorrelation   bool            `yaml:"no_correlation"`
	Correlate       []string        `yaml:"correlate"`
	BPFFS           string          `yaml:"bpffs"`
	Filter          filterSettings  `yaml:",inline"`
	Probes          []probeSettings `yaml:"probes"`
}

type filterSettings struct {
	MinDuration *time.Duration `yaml:"min_duration"`
	ErrorsOnly  *bool          `yaml:"errors_only"`
	Sample      *float64       `yaml:"sample"`
}

// probeSettings is one probe in a config file: a spec string, or a mapping with its own filters.
type probeSettings struct {
	Spec   string         `yaml:"spec"`
	Filter filterSettings `yaml:",inline"`
}

func (p *probeSettings) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		return node.Decode(&p.Spec)
	}
	// node.Decode does not inherit the decoder's KnownFields: check the keys here.
	if node.Kind == yaml.MappingNode {
		for i := 0; i < len(node.Content); i += 2 {
			if key := node.Content[i].Value; !slices.Contains(probeKeys, key) {
				return fmt.Errorf("line %d: unknown probe setting %q (want one of %s)", node.Content[i].Line, key, strings.Join(probeKeys, ", "))
			}
		}
	}
	type plain probeSettings
	return node.Decode((*plain)(p))
}

// probeKeys are the settings a probe of a config file may have.
var probeKeys = []string{"spec", "min_duration", "errors_only", "sample"}

func defaultSettings() settings {
	return settings{Exporter: "otlp", BPFFS: "/sys/fs/bpf", MaxGlob: 1000, RingBufferSize: 8 << 20, BatchSize: 2048, BatchTimeout: 200 * time.Millisecond, QueueBatches: 4, MetricsInterval: 10 * time.Second}
}

// loadConfig reads a YAML config file over s; unknown keys are errors.
func loadConfig(data []byte, s *settings) error {
	decoder := yaml.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	if err := decoder.Decode(s); err != nil && !errors.Is(err, io.EOF) {
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			return errors.New(strings.Join(typeErr.Errors, "; ")) // one line, as every error kretspan prints
		}
		return err
	}
	for i, p := range s.Probes {
		if strings.TrimSpace(p.Spec) == "" {
			return fmt.Errorf("probes[%d]: missing spec", i)
		}
	}
	return nil
}

type pidList []uint32

func (l *pidList) String() string { return fmt.Sprint(*l) }
func (l *pidList) Set(v string) error {
	pid, err := strconv.ParseUint(v, 10, 32)
	if err != nil || pid == 0 {
		return fmt.Errorf("want a process id (a positive number), got %q", v)
	}
	*l = append(*l, uint32(pid))
	return nil
}

type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	if v == "" {
		return fmt.Errorf("want a path")
	}
	*l = append(*l, v)
	return nil
}

type ratio struct{ value *float64 }

func (r ratio) String() string {
	if r.value == nil {
		return "1"
	}
	return strconv.FormatFloat(*r.value, 'g', -1, 64)
}
func (r ratio) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("want a ratio such as 0.01, got %q", v)
	}
	*r.value = f
	return nil
}

// runFlags are the flags of the main command.
type runFlags struct {
	set         *flag.FlagSet
	config      string
	s           settings
	pids        pidList
	correlate   stringList
	minDuration time.Duration
	errorsOnly  bool
	sample      float64
}

// printUsage prints the full help.
func (f *runFlags) printUsage(w io.Writer) {
	fmt.Fprint(w, usageText)
	f.set.SetOutput(w)
	f.set.PrintDefaults()
	f.set.SetOutput(io.Discard)
}

func newRunFlags() *runFlags {
	f := &runFlags{set: flag.NewFlagSet("kretspan", flag.ContinueOnError), s: defaultSettings()}
	fs := f.set
	// Errors are reported by run as one line; the full usage only on --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.config, "config", "", "YAML `file` with these settings and per-probe filters")
	fs.StringVar(&f.s.Exporter, "exporter", f.s.Exporter, "where spans go: otlp, console or none")
	fs.StringVar(&f.s.OTLPEndpoint, "otlp-endpoint", "", "OTLP gRPC `URL` (overrides OTEL_EXPORTER_OTLP_ENDPOINT; default "+"http://localhost:4317)")
	fs.DurationVar(&f.s.Duration, "duration", 0, "stop after this long (default: until SIGINT or SIGTERM)")
	fs.Var(&f.pids, "pid", "trace only this process `id` (repeatable)")
	fs.StringVar(&f.s.Comm, "comm", "", "trace only threads with this command `name`")
	fs.BoolVar(&f.s.KernelThreads, "kernel-threads", false, "trace kernel threads too")
	fs.DurationVar(&f.minDuration, "min-duration", 0, "drop calls faster than this, in the kernel")
	fs.BoolVar(&f.errorsOnly, "errors-only", false, "keep only calls returning a negative errno")
	f.sample = 1
	fs.Var(ratio{&f.sample}, "sample", "keep this `ratio` of call trees (0 < RATIO <= 1), decided at the outermost call")
	fs.Var(uint32Value{&f.s.MaxInflight}, "max-inflight", "bound the `threads` with probed calls in flight (the kretprobe maxactive), their stacks in a preallocated table (default: each thread's stack in its task storage on kernels 5.11+, else a table of "+strconv.Itoa(bpf.DefaultMaxInflight)+")")
	fs.IntVar(&f.s.MaxGlob, "max-glob", f.s.MaxGlob, "most targets the probes may expand to")
	fs.Var(uint32Value{&f.s.RingBufferSize}, "ringbuf-size", "ring buffer `bytes` (a power of two)")
	fs.IntVar(&f.s.BatchSize, "batch-size", f.s.BatchSize, "spans per OTLP export")
	fs.DurationVar(&f.s.BatchTimeout, "batch-timeout", f.s.BatchTimeout, "longest wait before a partial batch is exported")
	fs.Var(&f.correlate, "correlate", "also find the span-binding marker in this `binary` (repeatable; running processes are scanned anyway)")
	fs.BoolVar(&f.s.NoCorrelation, "no-correlation", false, "do not parent calls under application spans (neither the marker nor traces_ctx_v1)")
	fs.StringVar(&f.s.BPFFS, "bpffs", f.s.BPFFS, "bpffs `mount` holding the shared map otel/traces_ctx_v1")
	fs.DurationVar(&f.s.MetricsInterval, "metrics-interval", f.s.MetricsInterval, "export the ledger and latency histograms as OTLP metrics this often (0: never)")
	fs.IntVar(&f.s.QueueBatches, "queue-batches", f.s.QueueBatches, "batches that may wait for export; more are dropped and counted")
	return f
}

type uint32Value struct{ p *uint32 }

func (u uint32Value) String() string {
	if u.p == nil {
		return "0"
	}
	return strconv.FormatUint(uint64(*u.p), 10)
}
func (u uint32Value) Set(v string) error {
	n, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return fmt.Errorf("want a whole number up to %d, got %q", uint32(1<<32-1), v)
	}
	*u.p = uint32(n)
	return nil
}

// parseArgs parses flags and probe specs in any order, as users of tracing tools expect.
func parseArgs(args []string, stdout io.Writer) (*runFlags, []string, error) {
	f := newRunFlags()
	var positional []string
	for {
		if err := f.set.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printUsage(stdout)
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("%w (see kretspan --help)", err)
		}
		rest := f.set.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return f, positional, nil
}

// resolveSettings merges --config (if any) under the flags that were given explicitly.
func (f *runFlags) resolveSettings(specArgs []string) (settings, error) {
	explicit := map[string]bool{}
	f.set.Visit(func(fl *flag.Flag) { explicit[fl.Name] = true })
	s := f.s
	if f.config != "" {
		data, err := os.ReadFile(f.config)
		if err != nil {
			return s, usagef("config: %w", err)
		}
		fromFile := defaultSettings()
		if err := loadConfig(data, &fromFile); err != nil {
			return s, usagef("config %s: %v", f.config, err)
		}
		f.set.VisitAll(func(fl *flag.Flag) {
			if explicit[fl.Name] {
				return
			}
			switch fl.Name {
			case "exporter":
				s.Exporter = fromFile.Exporter
			case "otlp-endpoint":
				s.OTLPEndpoint = fromFile.OTLPEndpoint
			case "duration":
				s.Duration = fromFile.Duration
			case "comm":
				s.Comm = fromFile.Comm
			case "kernel-threads":
				s.KernelThreads = fromFile.KernelThreads
			case "max-inflight":
				s.MaxInflight = fromFile.MaxInflight
			case "max-glob":
				s.MaxGlob = fromFile.MaxGlob
			case "ringbuf-size":
				s.RingBufferSize = fromFile.RingBufferSize
			case "batch-size":
				s.BatchSize = fromFile.BatchSize
			case "batch-timeout":
				s.BatchTimeout = fromFile.BatchTimeout
			case "queue-batches":
				s.QueueBatches = fromFile.QueueBatches
			case "metrics-interval":
				s.MetricsInterval = fromFile.MetricsInterval
			case "pid":
				s.PIDs = fromFile.PIDs
			case "no-correlation":
				s.NoCorrelation = fromFile.NoCorrelation
			case "correlate":
				s.Correlate = fromFile.Correlate
			case "bpffs":
				s.BPFFS = fromFile.BPFFS
			}
		})
		s.Filter = fromFile.Filter
		s.Probes = fromFile.Probes
	}
	if explicit["max-inflight"] && s.MaxInflight == 0 {
		return s, usagef("--max-inflight must be at least 1")
	}
	s.PIDs = append(s.PIDs, f.pids...)
	s.Correlate = append(s.Correlate, f.correlate...)
	if explicit["min-duration"] {
		s.Filter.MinDuration = &f.minDuration
	}
	if explicit["errors-only"] {
		s.Filter.ErrorsOnly = &f.errorsOnly
	}
	if explicit["sample"] {
		s.Filter.Sample = &f.sample
	}
	for _, arg := range specArgs {
		s.Probes = append(s.Probes, probeSettings{Spec: arg})
	}
	return s, s.validate()
}

func (s settings) validate() error {
	if s.OTLPEndpoint != "" {
		if err := otelbridge.CheckEndpoint(s.OTLPEndpoint); err != nil {
			return usagef("--otlp-endpoint %v", err)
		}
	}
	switch s.Exporter {
	case "otlp", "console", "none":
	default:
		return usagef("--exporter %q: want otlp, console or none", s.Exporter)
	}
	if len(s.Probes) == 0 {
		return usagef("no probes given; e.g. kretspan syscall:openat (see kretspan --help)")
	}
	if s.Duration < 0 {
		return usagef("--duration %v: must not be negative", s.Duration)
	}
	if s.MetricsInterval < 0 {
		return usagef("--metrics-interval %v: must not be negative", s.MetricsInterval)
	}
	if s.MaxGlob < 1 {
		return usagef("--max-glob must be at least 1")
	}
	if s.BatchSize < 1 || s.QueueBatches < 1 || s.BatchTimeout <= 0 {
		return usagef("--batch-size, --queue-batches and --batch-timeout must be positive")
	}
	if page := uint32(os.Getpagesize()); s.RingBufferSize < page || s.RingBufferSize&(s.RingBufferSize-1) != 0 {
		return usagef("--ringbuf-size %d: want a power of two of at least %d", s.RingBufferSize, page)
	}
	if slices.Contains(s.PIDs, 0) {
		return usagef("pids: 0 is not a process id")
	}
	if s.NoCorrelation && len(s.Correlate) > 0 {
		return usagef("--correlate and --no-correlation contradict each other")
	}
	if len(s.Comm) > 15 {
		return usagef("--comm %q: the kernel keeps only 15 characters of a command name", s.Comm)
	}
	for _, p := range append([]filterSettings{s.Filter}, probeFilters(s.Probes)...) {
		if err := p.validate(); err != nil {
			return err
		}
	}
	return nil
}

func probeFilters(probes []probeSettings) []filterSettings {
	out := make([]filterSettings, len(probes))
	for i, p := range probes {
		out[i] = p.Filter
	}
	return out
}

func (f filterSettings) validate() error {
	if f.MinDuration != nil && *f.MinDuration < 0 {
		return usagef("min-duration %v: must not be negative", *f.MinDuration)
	}
	if f.Sample != nil && !(*f.Sample > 0 && *f.Sample <= 1) {
		return usagef("sample %v: want a ratio with 0 < RATIO <= 1", *f.Sample)
	}
	return nil
}

// filter merges a probe's own filters over the run's.
func (s settings) filter(p probeSettings) bpf.Filter {
	var out bpf.Filter
	for _, f := range []filterSettings{s.Filter, p.Filter} {
		if f.MinDuration != nil {
			out.MinDuration = *f.MinDuration
		}
		if f.ErrorsOnly != nil {
			out.ErrorsOnly = *f.ErrorsOnly
		}
		if f.Sample != nil {
			out.SampleRatio = *f.Sample
		}
	}
	return out
}

// parseSpecs parses every probe spec of the settings.
func (s settings) parseSpecs() ([]probe.Spec, error) {
	specs := make([]probe.Spec, len(s.Probes))
	for i, p := range s.Probes {
		spec, err := probe.Parse(p.Spec)
		if err != nil {
			return nil, usageError{err}
		}
		specs[i] = spec
	}
	return specs, nil
}
