package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/exporter"
)

// Load resolves a run's settings: each setting's default, then the config file named by
// --config, then the OTEL_* environment (lookupEnv is os.LookupEnv), then the flags given, a
// repeatable flag adding to the file's list. The arguments that are not flags are probe specs,
// after the config file's. Every error is bad input, in one line; --help gives flag.ErrHelp.
func Load(args []string, lookupEnv func(string) (string, bool)) (Settings, error) {
	var s Settings
	given, specs, err := parseArgs(args)
	if err != nil {
		return s, err
	}
	for _, st := range settings {
		st.bind.reset(&s)
	}
	var file string
	for _, a := range given {
		if a.setting.flag == "config" {
			file = a.text // the last, as for every flag
		}
	}
	if file != "" {
		if err := loadFile(&s, file); err != nil {
			return s, err
		}
	}
	if err := applyEnvironment(&s, lookupEnv); err != nil {
		return s, err
	}
	for _, a := range given {
		err := errEmpty
		if a.text != "" {
			err = a.setting.bind.set(&s, a.text)
		}
		if err != nil {
			return s, named("--"+a.setting.flag, err)
		}
	}
	for _, spec := range specs {
		if err := (probes{}).set(&s, spec); err != nil {
			return s, err
		}
	}
	if s.MetricsExporter == "" {
		s.MetricsExporter = exporter.MetricsNone
		if s.Exporter == exporter.TracesOTLP {
			s.MetricsExporter = exporter.MetricsOTLP
		}
	}
	s.Traces.resolve("/v1/traces")
	s.Metrics.resolve("/v1/metrics")
	return s, s.validate()
}

// anySched reports whether a probe gets the scheduler split.
func (s Settings) anySched() bool {
	for _, p := range s.Probes {
		if s.ProbeFilter(p).Sched {
			return true
		}
	}
	return false
}

// validate checks what no single setting can: each value was checked as it was read.
func (s Settings) validate() error {
	if len(s.Probes) == 0 {
		return errors.New("no probes given; e.g. kretspan syscall:openat (see kretspan --help)")
	}
	if s.BlockedStacks && !s.anySched() {
		return errors.New("--blocked-stacks needs --sched (or sched: true on a probe of the config file)")
	}
	if s.NoCorrelation && len(s.Correlate) > 0 {
		return errors.New("--correlate and --no-correlation contradict each other")
	}
	if n := len(s.Cgroups) + len(s.Containers); n > bpf.MaxCgroups {
		return fmt.Errorf("%d cgroups and containers to trace, at most %d (--cgroup and --container together)", n, bpf.MaxCgroups)
	}
	return nil
}

// named puts the name of a setting, as the user wrote it, before an error in its value.
func named(name string, err error) error {
	var value valueError
	var item itemError
	switch {
	case errors.As(err, &item):
		return fmt.Errorf("%s%w", name, err)
	case errors.As(err, &value):
		return fmt.Errorf("%s %w", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// assignment is a flag as given.
type assignment struct {
	setting *setting
	text    string
}

// flagValue records a flag; it is parsed in its turn, after the config file and the environment.
type flagValue struct {
	setting *setting
	given   *[]assignment
}

func (v flagValue) String() string { return "" }
func (v flagValue) Set(text string) error {
	*v.given = append(*v.given, assignment{v.setting, text})
	return nil
}
func (v flagValue) IsBoolFlag() bool { return v.setting.bind.boolean() }

// parseArgs parses flags and probe specs in any order, as users of tracing tools expect.
func parseArgs(args []string) (given []assignment, specs []string, err error) {
	fs := flag.NewFlagSet("kretspan", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are one line; the usage comes only with --help
	fs.Usage = func() {}
	for i := range settings {
		if st := &settings[i]; st.flag != "" {
			fs.Var(flagValue{st, &given}, st.flag, st.usage)
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("%w (see kretspan --help)", err)
		}
		if fs.NArg() == 0 {
			return given, specs, nil
		}
		specs = append(specs, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// PrintFlags writes the flags' part of --help.
func PrintFlags(w io.Writer) {
	var flags []*setting
	for i := range settings {
		if settings[i].flag != "" {
			flags = append(flags, &settings[i])
		}
	}
	slices.SortFunc(flags, func(a, b *setting) int { return strings.Compare(a.flag, b.flag) })
	for _, st := range flags {
		arg, usage := st.bind.arg(), st.usage
		if before, rest, ok := strings.Cut(usage, "`"); ok {
			if quoted, after, ok := strings.Cut(rest, "`"); ok {
				arg, usage = quoted, before+quoted+after
			}
		}
		line := "  -" + st.flag
		if arg != "" {
			line += " " + arg
		}
		if def := st.bind.defaultText(); def != "" {
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, usage)
	}
}

// loadFile applies a YAML config file.
func loadFile(s *Settings, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := decodeFile(s, data); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

func decodeFile(s *Settings, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil // nothing but comments
	}
	root := resolveAlias(doc.Content[0])
	if root.ShortTag() == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of settings, got %s", root.Line, root.ShortTag())
	}
	return eachKey(root, func(key string, value *yaml.Node) error {
		i := slices.IndexFunc(settings, func(st setting) bool { return st.key == key })
		if i < 0 {
			return fmt.Errorf("unknown setting %q", key)
		}
		if err := settings[i].bind.decode(s, value); err != nil {
			return named(key, err)
		}
		return nil
	})
}

// eachKey calls f with each key of a mapping and its value; a key given twice is an error.
func eachKey(node *yaml.Node, f func(key string, value *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key := node.Content[i]
		err := fmt.Errorf("%q given twice", key.Value)
		if !seen[key.Value] {
			err = f(key.Value, node.Content[i+1])
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", key.Line, err)
		}
		seen[key.Value] = true
	}
	return nil
}
