package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/bpf"
)

func TestParseArgsInterleaved(t *testing.T) {
	f, specs, err := parseArgs([]string{"syscall:read", "--duration", "1s", "--pid", "5", "syscall:write", "-comm=cat", "vfs_*", "--pid=7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(specs, []string{"syscall:read", "syscall:write", "vfs_*"}) {
		t.Errorf("specs %q", specs)
	}
	s, err := f.resolveSettings(specs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != time.Second || s.Comm != "cat" || !slices.Equal(s.PIDs, []uint32{5, 7}) {
		t.Errorf("settings %+v", s)
	}
	if len(s.Probes) != 3 || s.Probes[0].Spec != "syscall:read" || s.Probes[2].Spec != "vfs_*" {
		t.Errorf("probes %+v", s.Probes)
	}
	// Untouched settings keep their defaults.
	d := defaultSettings()
	if s.Exporter != d.Exporter || s.MaxInflight != d.MaxInflight || s.MaxGlob != d.MaxGlob || s.RingBufferSize != d.RingBufferSize ||
		s.BatchSize != d.BatchSize || s.BatchTimeout != d.BatchTimeout || s.QueueBatches != d.QueueBatches || s.KernelThreads {
		t.Errorf("defaults changed: %+v", s)
	}
	if s.Filter.MinDuration != nil || s.Filter.ErrorsOnly != nil || s.Filter.Sample != nil {
		t.Errorf("filters set without flags: %+v", s.Filter)
	}
}

func TestParseArgsAllFlags(t *testing.T) {
	f, specs, err := parseArgs([]string{
		"--exporter", "console", "--otlp-endpoint", "http://collector:4317", "--kernel-threads", "--min-duration", "2ms",
		"--errors-only", "--sample", "0.25", "--max-inflight", "77", "--max-glob", "9", "--ringbuf-size", "0x10000",
		"--batch-size", "16", "--batch-timeout", "1s", "--queue-batches", "3", "kprobe:vfs_read",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.resolveSettings(specs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Exporter != "console" || s.OTLPEndpoint != "http://collector:4317" || !s.KernelThreads || s.MaxInflight != 77 || s.MaxGlob != 9 ||
		s.RingBufferSize != 1<<16 || s.BatchSize != 16 || s.BatchTimeout != time.Second || s.QueueBatches != 3 {
		t.Errorf("settings %+v", s)
	}
	filter := s.filter(s.Probes[0])
	if filter != (bpf.Filter{MinDuration: 2 * time.Millisecond, ErrorsOnly: true, SampleRatio: 0.25}) {
		t.Errorf("filter %+v", filter)
	}
}

// checkUsageError asserts err is a one-line usageError containing want.
func checkUsageError(t *testing.T, err error, want string) {
	t.Helper()
	checkUsageErrorAnyLines(t, err, want)
	if err != nil && strings.Contains(strings.TrimSpace(err.Error()), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// checkUsageErrorAnyLines asserts err is a usageError containing want.
func checkUsageErrorAnyLines(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	var usage usageError
	if !errors.As(err, &usage) {
		t.Errorf("error %q (%T) is not a usageError: exit status would be 1, not 2", err, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// settingsFor parses args and resolves them like runTrace does (parse errors become usageErrors).
func settingsFor(args ...string) (settings, error) {
	f, specs, err := parseArgs(args, io.Discard)
	if err != nil {
		return settings{}, usageError{err}
	}
	s, err := f.resolveSettings(specs)
	if err != nil {
		return s, err
	}
	_, err = s.parseSpecs()
	return s, err
}

func TestInvalidFlagValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sample", "0", "syscall:read"}, "sample 0"},
		{[]string{"--sample", "1.5", "syscall:read"}, "sample 1.5"},
		{[]string{"--sample", "-0.5", "syscall:read"}, "sample -0.5"},
		{[]string{"--sample", "NaN", "syscall:read"}, "sample NaN"},
		{[]string{"--sample", "abc", "syscall:read"}, `"abc"`},
		{[]string{"--pid", "0", "syscall:read"}, `"0"`},
		{[]string{"--pid", "-3", "syscall:read"}, `"-3"`},
		{[]string{"--pid", "x", "syscall:read"}, `"x"`},
		{[]string{"--max-inflight", "0", "syscall:read"}, "--max-inflight"},
		{[]string{"--max-inflight", "-1", "syscall:read"}, `"-1"`},
		{[]string{"--max-inflight", "4294967296", "syscall:read"}, `"4294967296"`},
		{[]string{"--max-glob", "0", "syscall:read"}, "--max-glob"},
		{[]string{"--ringbuf-size", "1000", "syscall:read"}, "--ringbuf-size 1000"},
		{[]string{"--ringbuf-size", "1024", "syscall:read"}, "power of two of at least"},
		{[]string{"--ringbuf-size", "0", "syscall:read"}, "--ringbuf-size 0"},
		{[]string{"--exporter", "foo", "syscall:read"}, `--exporter "foo"`},
		{[]string{"--comm", "a-very-long-command", "syscall:read"}, "15 characters"},
		{[]string{"--comm", "sixteen-chars-xx", "syscall:read"}, "15 characters"},
		{[]string{}, "no probes given"},
		{[]string{"--duration", "5s"}, "no probes given"},
		{[]string{"--duration", "-1s", "syscall:read"}, "--duration -1s"},
		{[]string{"--min-duration", "-1ms", "syscall:read"}, "min-duration -1ms"},
		{[]string{"--duration", "soon", "syscall:read"}, "soon"},
		{[]string{"--batch-size", "0", "syscall:read"}, "--batch-size"},
		{[]string{"--queue-batches", "-1", "syscall:read"}, "--queue-batches"},
		{[]string{"--batch-timeout", "0s", "syscall:read"}, "--batch-timeout"},
		{[]string{"--no-such-flag", "syscall:read"}, "no-such-flag"},
		{[]string{"syscall:read", "--sample"}, "sample"},
		{[]string{"bogus:read"}, "unknown probe kind"},
		{[]string{"syscall:read", "uprobe:nosymbol"}, "uprobe needs PATH:SYMBOL"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := settingsFor(tc.args...)
			checkUsageError(t, err, tc.want)
		})
	}
	// A comm of exactly 15 characters is fine.
	if _, err := settingsFor("--comm", "fifteen-chars-x", "syscall:read"); err != nil {
		t.Errorf("15-character comm: %v", err)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kretspan.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"bad yaml", "exporter: [console\n", "config"},
		{"not a mapping", "- a\n- b\n", "config"},
		{"unknown key", "exporter: console\nexporterr: none\n", "exporterr"},
		{"probe without spec", "probes:\n  - sample: 0.5\n", "probes[0]: missing spec"},
		{"blank spec", "probes:\n  - syscall:read\n  - spec: '  '\n", "probes[1]: missing spec"},
		{"bad duration", "duration: soon\n", "config"},
		{"negative pid", "pids: [-1]\n", "config"},
		{"bad exporter", "exporter: foo\nprobes: [syscall:read]\n", `--exporter "foo"`},
		{"bad probe sample", "probes:\n  - spec: syscall:read\n    sample: 2\n", "sample 2"},
		{"bad global sample", "sample: 0\nprobes: [syscall:read]\n", "sample 0"},
		{"negative probe min_duration", "probes:\n  - spec: syscall:read\n    min_duration: -1ms\n", "min-duration -1ms"},
		{"bad probe spec", "probes: ['kprobe:']\n", "missing function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			_, err := settingsFor("--config", path)
			// yaml.v3 type errors span lines: see TestRunUnknownConfigKeyOneLine.
			checkUsageErrorAnyLines(t, err, tc.want)
		})
	}
	_, err := settingsFor("--config", filepath.Join(t.TempDir(), "missing.yaml"), "syscall:read")
	checkUsageError(t, err, "missing.yaml")
}

func TestConfigUnknownKeyInProbeMapping(t *testing.T) {
	var s settings
	err := loadConfig([]byte("probes:\n  - spec: syscall:read\n    smaple: 0.1\n"), &s)
	if err == nil {
		t.Errorf("misspelt per-probe key accepted: %+v", s.Probes)
	}
}

func TestConfigZeroPID(t *testing.T) {
	path := writeConfig(t, "pids: [0]\nprobes: [syscall:read]\n")
	_, err := settingsFor("--config", path)
	checkUsageError(t, err, "0")
}

const fullConfig = `
exporter: console
otlp_endpoint: http://file:4317
duration: 30s
pids: [10, 11]
comm: nginx
kernel_threads: true
max_inflight: 500
max_glob: 50
ringbuf_size: 65536
batch_size: 64
batch_timeout: 50ms
queue_batches: 2
min_duration: 1ms
sample: 0.5
probes:
  - syscall:openat
  - spec: kprobe:vfs_read
    min_duration: 10us
    errors_only: true
  - spec: uprobe:libc:malloc
    sample: 0.01
    errors_only: false
`

func TestConfigFileApplies(t *testing.T) {
	path := writeConfig(t, fullConfig)
	s, err := settingsFor("--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Exporter != "console" || s.OTLPEndpoint != "http://file:4317" || s.Duration != 30*time.Second || !slices.Equal(s.PIDs, []uint32{10, 11}) ||
		s.Comm != "nginx" || !s.KernelThreads || s.MaxInflight != 500 || s.MaxGlob != 50 || s.RingBufferSize != 65536 ||
		s.BatchSize != 64 || s.BatchTimeout != 50*time.Millisecond || s.QueueBatches != 2 {
		t.Errorf("settings from file %+v", s)
	}
	if len(s.Probes) != 3 || s.Probes[0].Spec != "syscall:openat" || s.Probes[1].Spec != "kprobe:vfs_read" || s.Probes[2].Spec != "uprobe:libc:malloc" {
		t.Fatalf("probes %+v", s.Probes)
	}
	// Per-probe filters override the global ones field by field.
	for i, want := range []bpf.Filter{
		{MinDuration: time.Millisecond, SampleRatio: 0.5},
		{MinDuration: 10 * time.Microsecond, ErrorsOnly: true, SampleRatio: 0.5},
		{MinDuration: time.Millisecond, ErrorsOnly: false, SampleRatio: 0.01},
	} {
		if got := s.filter(s.Probes[i]); got != want {
			t.Errorf("filter of %s = %+v, want %+v", s.Probes[i].Spec, got, want)
		}
	}
}

func TestExplicitFlagsBeatConfigFile(t *testing.T) {
	path := writeConfig(t, fullConfig)
	s, err := settingsFor("--exporter", "none", "--config", path, "--duration", "0s", "--pid", "99", "--max-glob", "1000",
		"--batch-size", "512", "--kernel-threads=false", "--sample", "1", "--errors-only", "syscall:write")
	if err != nil {
		t.Fatal(err)
	}
	// Given explicitly, even at the default value: the flag wins.
	if s.Exporter != "none" || s.Duration != 0 || !slices.Equal(s.PIDs, []uint32{99}) || s.MaxGlob != 1000 || s.BatchSize != 512 || s.KernelThreads {
		t.Errorf("explicit flags lost to the file: %+v", s)
	}
	// Not given: the file's value.
	if s.Comm != "nginx" || s.MaxInflight != 500 || s.OTLPEndpoint != "http://file:4317" || s.QueueBatches != 2 || s.BatchTimeout != 50*time.Millisecond {
		t.Errorf("file values lost: %+v", s)
	}
	// Probes from the file come first, then the command line's.
	if len(s.Probes) != 4 || s.Probes[3].Spec != "syscall:write" {
		t.Errorf("probes %+v", s.Probes)
	}
	// Global filters: explicit flags over the file; the file's min_duration stays.
	if got, want := s.filter(s.Probes[3]), (bpf.Filter{MinDuration: time.Millisecond, ErrorsOnly: true, SampleRatio: 1}); got != want {
		t.Errorf("command-line probe filter %+v, want %+v", got, want)
	}
	// A probe's own filters in the file still override the global ones.
	if got, want := s.filter(s.Probes[2]), (bpf.Filter{MinDuration: time.Millisecond, ErrorsOnly: false, SampleRatio: 0.01}); got != want {
		t.Errorf("file probe filter %+v, want %+v", got, want)
	}
}

func TestDefaultsWithoutConfig(t *testing.T) {
	s, err := settingsFor("syscall:read")
	if err != nil {
		t.Fatal(err)
	}
	want := defaultSettings()
	want.Probes = []probeSettings{{Spec: "syscall:read"}}
	if s.Exporter != want.Exporter || s.MaxInflight != want.MaxInflight || s.RingBufferSize != want.RingBufferSize || s.PIDs != nil {
		t.Errorf("settings %+v", s)
	}
	if f := s.filter(s.Probes[0]); f != (bpf.Filter{}) {
		t.Errorf("default filter %+v", f)
	}
}

func TestLoadConfigEmptyAndComments(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "---\n"} {
		s := defaultSettings()
		if err := loadConfig([]byte(text), &s); err != nil {
			t.Errorf("loadConfig(%q): %v", text, err)
		}
		if s.Exporter != "otlp" || s.MaxGlob != 1000 {
			t.Errorf("loadConfig(%q) changed the defaults: %+v", text, s)
		}
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(""))
	f.Add([]byte("probes:\n  - spec: syscall:read\n    sample: 0.5\n"))
	f.Add([]byte("exporter: [console\n"))
	f.Add([]byte("pids: [1, 2]\nduration: 1s\nmin_duration: -1s\n"))
	f.Add([]byte("probes: [a, {spec: b, errors_only: true}, [c]]\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("sample: .nan\nprobes: [x]\nringbuf_size: 4096\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := defaultSettings()
		if err := loadConfig(data, &s); err != nil {
			return
		}
		for i, p := range s.Probes {
			if strings.TrimSpace(p.Spec) == "" {
				t.Fatalf("probes[%d] without a spec accepted", i)
			}
		}
		if err := s.validate(); err != nil {
			var usage usageError
			if !errors.As(err, &usage) {
				t.Fatalf("validate error %v is not a usageError", err)
			}
			return
		}
		for _, p := range s.Probes {
			f := s.filter(p)
			if f.MinDuration < 0 || (f.SampleRatio != 0 && !(f.SampleRatio > 0 && f.SampleRatio <= 1)) {
				t.Fatalf("validated settings give filter %+v", f)
			}
		}
		_, _ = s.parseSpecs()
	})
}
