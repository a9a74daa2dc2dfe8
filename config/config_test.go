package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/exporter"
	"github.com/kretspan/kretspan/internal/testprocess"
	"github.com/kretspan/kretspan/otelbridge"
)

func noEnv(string) (string, bool) { return "", false }

func envOf(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func load(args ...string) (Settings, error) { return Load(args, noEnv) }

func defaults() Settings {
	var s Settings
	for _, st := range settings {
		st.bind.reset(&s)
	}
	s.Traces.resolve("/v1/traces")
	s.Metrics.resolve("/v1/metrics")
	return s
}

// checkError asserts err is one line containing want.
func checkError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if strings.Contains(strings.TrimSpace(err.Error()), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func specs(s Settings) []string {
	var out []string
	for _, p := range s.Probes {
		out = append(out, p.Spec.Raw)
	}
	return out
}

func TestLoadInterleaved(t *testing.T) {
	s, err := load("syscall:read", "--duration", "1s", "--pid", "5", "syscall:write", "-comm=cat", "vfs_*", "--pid=7")
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != time.Second || s.Comm != "cat" || !slices.Equal(s.PIDs, []uint32{5, 7}) {
		t.Errorf("settings %+v", s)
	}
	if !slices.Equal(specs(s), []string{"syscall:read", "syscall:write", "vfs_*"}) {
		t.Errorf("probes %q", specs(s))
	}
	// Untouched settings keep their defaults.
	d := defaults()
	if s.Exporter != d.Exporter || s.MaxInflight != d.MaxInflight || s.MaxGlob != d.MaxGlob || s.RingBufferSize != d.RingBufferSize ||
		s.BatchSize != d.BatchSize || s.BatchTimeout != d.BatchTimeout || s.QueueBatches != d.QueueBatches || s.KernelThreads {
		t.Errorf("defaults changed: %+v", s)
	}
	if s.Filter.MinDuration != nil || s.Filter.ErrorsOnly != nil || s.Filter.Sample != nil {
		t.Errorf("filters set without flags: %+v", s.Filter)
	}
}

func TestDefaults(t *testing.T) {
	s, err := load("syscall:read")
	if err != nil {
		t.Fatal(err)
	}
	if s.Exporter != "otlp" || s.BPFFS != "/sys/fs/bpf" || s.MaxGlob != 1000 || s.RingBufferSize != 8<<20 || s.MetricsInterval != 10*time.Second ||
		s.MaxInflight != 0 || s.Duration != 0 || s.PIDs != nil || s.Comm != "" || s.Correlate != nil || s.ConfigFile != "" {
		t.Errorf("settings %+v", s)
	}
	// The pipeline's defaults are the settings'.
	if s.BatchSize != otelbridge.DefaultBatchSize || s.BatchTimeout != otelbridge.DefaultBatchTimeout || s.QueueBatches != otelbridge.DefaultQueueBatches {
		t.Errorf("batching %d %v %d", s.BatchSize, s.BatchTimeout, s.QueueBatches)
	}
	if s.Traces.Endpoint != DefaultEndpoint || s.Metrics.Endpoint != DefaultEndpoint {
		t.Errorf("endpoints %+v %+v", s.Traces, s.Metrics)
	}
	if f := s.ProbeFilter(s.Probes[0]); !reflect.DeepEqual(f, bpf.Filter{NotFailures: errno.DefaultSet()}) {
		t.Errorf("default filter %+v", f)
	}
}

func TestLoadAllFlags(t *testing.T) {
	s, err := load(
		"--exporter", "console", "--otlp-endpoint", "http://collector:4317", "--kernel-threads", "--min-duration", "2ms",
		"--errors-only", "--sample", "0.25", "--max-inflight", "77", "--max-glob", "9", "--ringbuf-size", "0x10000",
		"--batch-size", "16", "--batch-timeout", "1s", "--queue-batches", "3", "--metrics-interval", "0s", "--bpffs", "/mnt/bpf",
		"--correlate", "/bin/a", "--correlate=/bin/b", "--cgroup", "kubepods.slice", "--cgroup=/sys/fs/cgroup/system.slice",
		"--container", containerID, "--container", "containerd://"+containerID[:12], "kprobe:vfs_read",
	)
	if err != nil {
		t.Fatal(err)
	}
	if s.Exporter != "console" || s.Traces.Endpoint != "http://collector:4317" || s.Metrics.Endpoint != "http://collector:4317" || !s.KernelThreads ||
		s.MaxInflight != 77 || s.MaxGlob != 9 || s.RingBufferSize != 1<<16 || s.BatchSize != 16 || s.BatchTimeout != time.Second ||
		s.QueueBatches != 3 || s.MetricsInterval != 0 || s.BPFFS != "/mnt/bpf" || !slices.Equal(s.Correlate, []string{"/bin/a", "/bin/b"}) ||
		!slices.Equal(s.Cgroups, []string{"kubepods.slice", "/sys/fs/cgroup/system.slice"}) || !slices.Equal(s.Containers, []string{containerID, containerID[:12]}) {
		t.Errorf("settings %+v", s)
	}
	filter := s.ProbeFilter(s.Probes[0])
	if !reflect.DeepEqual(filter, bpf.Filter{MinDuration: 2 * time.Millisecond, ErrorsOnly: true, SampleRatio: 0.25, NotFailures: errno.DefaultSet()}) {
		t.Errorf("filter %+v", filter)
	}
}

const containerID = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"

func TestInvalidFlagValues(t *testing.T) {
	var cgroups []string
	for range bpf.MaxCgroups {
		cgroups = append(cgroups, "--cgroup", "a")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sample", "0", "syscall:read"}, "--sample 0: want a ratio"},
		{[]string{"--sample", "1.5", "syscall:read"}, "sample 1.5"},
		{[]string{"--sample", "-0.5", "syscall:read"}, "sample -0.5"},
		{[]string{"--sample", "NaN", "syscall:read"}, "sample NaN"},
		{[]string{"--sample", "abc", "syscall:read"}, `"abc"`},
		{[]string{"--pid", "0", "syscall:read"}, `"0"`},
		{[]string{"--pid", "-3", "syscall:read"}, `"-3"`},
		{[]string{"--pid", "x", "syscall:read"}, `"x"`},
		{[]string{"--max-inflight", "0", "syscall:read"}, "--max-inflight 0: must be at least 1"},
		{[]string{"--max-inflight", "-1", "syscall:read"}, `"-1"`},
		{[]string{"--max-inflight", "4294967296", "syscall:read"}, `"4294967296"`},
		{[]string{"--max-glob", "0", "syscall:read"}, "--max-glob"},
		{[]string{"--ringbuf-size", "1000", "syscall:read"}, "--ringbuf-size 1000"},
		{[]string{"--ringbuf-size", "1024", "syscall:read"}, "power of two of at least"},
		{[]string{"--ringbuf-size", "0", "syscall:read"}, "--ringbuf-size 0"},
		{[]string{"--exporter", "foo", "syscall:read"}, `--exporter "foo": want otlp, console or none`},
		{[]string{"--otlp-endpoint", "localhost:4317", "syscall:read"}, `--otlp-endpoint "localhost:4317": want a URL`},
		{[]string{"--comm", "a-very-long-command", "syscall:read"}, "15 characters"},
		{[]string{"--comm", "sixteen-chars-xx", "syscall:read"}, "15 characters"},
		{[]string{}, "no probes given"},
		{[]string{"--duration", "5s"}, "no probes given"},
		{[]string{"--duration", "-1s", "syscall:read"}, "--duration -1s"},
		{[]string{"--metrics-interval", "-1s", "syscall:read"}, "--metrics-interval -1s"},
		{[]string{"--min-duration", "-1ms", "syscall:read"}, "min-duration -1ms"},
		{[]string{"--duration", "soon", "syscall:read"}, "soon"},
		{[]string{"--kernel-threads=maybe", "syscall:read"}, `--kernel-threads "maybe": want true or false`},
		{[]string{"--batch-size", "0", "syscall:read"}, "--batch-size"},
		{[]string{"--queue-batches", "-1", "syscall:read"}, "--queue-batches"},
		{[]string{"--batch-timeout", "0s", "syscall:read"}, "--batch-timeout"},
		{[]string{"--correlate", "/bin/a", "--no-correlation", "syscall:read"}, "contradict"},
		{[]string{"--container", "web", "syscall:read"}, `--container "web": want a container id: 12 to 64 hex digits`},
		{[]string{"--container", containerID[:11], "syscall:read"}, "want a container id"},
		{[]string{"--container", "docker-" + containerID + ".scope", "syscall:read"}, "want a container id"},
		{append(cgroups, "--container", containerID, "syscall:read"), "17 cgroups and containers to trace, at most 16 (--cgroup and --container together)"},
		{[]string{"--no-such-flag", "syscall:read"}, "no-such-flag"},
		{[]string{"syscall:read", "--sample"}, "sample"},
		{[]string{"bogus:read"}, "unknown probe kind"},
		{[]string{"syscall:read", "uprobe:nosymbol"}, "uprobe needs PATH:SYMBOL"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := load(tc.args...)
			checkError(t, err, tc.want)
		})
	}
	// A comm of exactly 15 characters is fine.
	if _, err := load("--comm", "fifteen-chars-x", "syscall:read"); err != nil {
		t.Errorf("15-character comm: %v", err)
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		if _, err := load("syscall:read", arg); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: %v", arg, err)
		}
	}
	var help bytes.Buffer
	PrintFlags(&help)
	for _, st := range settings {
		if st.flag == "" {
			continue
		}
		entry := "  -" + st.flag
		if arg := st.bind.arg(); arg != "" && !strings.Contains(st.usage, "`") {
			entry += " " + arg
		}
		if !strings.Contains(help.String(), entry+"\n") && !strings.Contains(help.String(), entry+" ") {
			t.Errorf("help lacks %q:\n%s", entry, help.String())
		}
		if def := st.bind.defaultText(); def != "" && !strings.Contains(help.String(), "(default "+def+")") {
			t.Errorf("help lacks the default of --%s, %s", st.flag, def)
		}
	}
	for _, want := range []string{"  -ringbuf-size bytes\n    \tring buffer bytes (a power of two) (default 8388608)\n",
		"  -kernel-threads\n", `(default "http://localhost:4317")`, "  -batch-timeout duration\n"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
}

// The one rule for empty values, for every setting: a flag or config key given empty is an
// error; an empty environment variable is as if unset. A setting whose empty value is to mean
// something must say so, and change this test.
func TestEmptyValues(t *testing.T) {
	for _, st := range settings {
		if st.flag != "" {
			for _, args := range [][]string{{"--" + st.flag + "=", "syscall:read"}, {"--" + st.flag, "", "syscall:read"}} {
				if st.bind.boolean() && len(args) == 3 {
					continue // a boolean flag takes no separate argument
				}
				_, err := load(args...)
				checkError(t, err, "--"+st.flag+": empty value")
			}
		}
		if st.key != "" {
			values := map[string]string{`""`: st.key, "": st.key, "~": st.key}
			if isList(st.bind) {
				values["[]"], values[`[""]`] = st.key, st.key+"[0]"
			}
			for value, name := range values {
				_, err := load("--config", testprocess.WriteConfig(t, st.key+": "+value+"\n"), "syscall:read")
				checkError(t, err, name+": empty value")
			}
		}
		for _, env := range st.env {
			for _, value := range []string{"", "  "} {
				s, err := Load([]string{"syscall:read"}, envOf(map[string]string{env.name: value}))
				if err != nil {
					t.Errorf("%s=%q: %v", env.name, value, err)
				}
				if !reflect.DeepEqual(s.Traces, defaults().Traces) || !reflect.DeepEqual(s.Metrics, defaults().Metrics) {
					t.Errorf("%s=%q changed the settings: %+v", env.name, value, s)
				}
			}
		}
	}
	// In a probe mapping too.
	for _, key := range probeKeys() {
		text := "probes:\n  - spec: syscall:read\n    " + key + ": ''\n"
		want := key + ": empty value"
		if key == "spec" {
			text, want = "probes:\n  - spec: ''\n", "probes[0]: missing spec"
		}
		_, err := load("--config", testprocess.WriteConfig(t, text))
		checkError(t, err, want)
	}
	_, err := load("")
	checkError(t, err, "empty probe spec")
}

func isList(b binding) bool {
	switch b.(type) {
	case list[uint32], list[string], probes:
		return true
	}
	return false
}

func TestEndpoints(t *testing.T) {
	const (
		flagURL = "http://flag:4317"
		fileURL = "http://file:4317"
		all     = "http://all:4317"
		traces  = "https://traces:443"
		metrics = "http://metrics:4317"
	)
	file := testprocess.WriteConfig(t, "otlp_endpoint: "+fileURL+"\n")
	for _, tc := range []struct {
		name                string
		args                []string
		env                 map[string]string
		traces, metricsWant string
	}{
		{"default", nil, nil, DefaultEndpoint, DefaultEndpoint},
		{"general variable", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": all}, all, all},
		{"per-signal variables win", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": all, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces}, traces, all},
		{"metrics variable", nil, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": metrics}, DefaultEndpoint, metrics},
		{"file", []string{"--config", file}, nil, fileURL, fileURL},
		{"environment over the file", []string{"--config", file}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces}, traces, fileURL},
		{"flag over all", []string{"--config", file, "--otlp-endpoint", flagURL},
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": all, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": metrics},
			flagURL, flagURL},
		{"blank is unset", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": all, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": " "}, all, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(append(tc.args, "syscall:read"), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.Traces.Endpoint != tc.traces || s.Metrics.Endpoint != tc.metricsWant {
				t.Errorf("traces %q, metrics %q; want %q, %q", s.Traces.Endpoint, s.Metrics.Endpoint, tc.traces, tc.metricsWant)
			}
		})
	}
}

// Each rule of the protocol and of the endpoint's path, for both signals.
func TestProtocols(t *testing.T) {
	const (
		grpc = ProtocolGRPC
		http = ProtocolHTTP
	)
	file := testprocess.WriteConfig(t, "otlp_protocol: http/protobuf\n")
	for _, tc := range []struct {
		name                                   string
		args                                   []string
		env                                    map[string]string
		traces, tracesURL, metrics, metricsURL string
	}{
		{"default", nil, nil, grpc, DefaultEndpoint, grpc, DefaultEndpoint},
		{"port 4318 means http", []string{"--otlp-endpoint", "http://c:4318"}, nil, http, "http://c:4318/v1/traces", http, "http://c:4318/v1/metrics"},
		{"other ports stay grpc", []string{"--otlp-endpoint", "http://c:4319"}, nil, grpc, "http://c:4319", grpc, "http://c:4319"},
		{"port 4318 of one signal", nil, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c:4318/v1/traces"}, http, "https://c:4318/v1/traces", grpc, DefaultEndpoint},
		{"an explicit protocol beats port 4318", []string{"--otlp-endpoint", "http://c:4318", "--otlp-protocol", "grpc"}, nil, grpc, "http://c:4318", grpc, "http://c:4318"},
		{"http without an endpoint goes to OTLP/HTTP's default", []string{"--otlp-protocol", "http/protobuf"}, nil,
			http, "http://localhost:4318/v1/traces", http, "http://localhost:4318/v1/metrics"},
		{"generic variables", nil, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:9/base/"},
			http, "http://c:9/base/v1/traces", http, "http://c:9/base/v1/metrics"},
		{"a signal's endpoint is used as it is", nil, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/custom"},
			http, "http://c:9/custom", grpc, DefaultEndpoint},
		{"per-signal protocol beats the generic one", nil, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"},
			http, "http://localhost:4318/v1/traces", grpc, DefaultEndpoint},
		{"config key", []string{"--config", file, "--otlp-endpoint", "http://c:9"}, nil, http, "http://c:9/v1/traces", http, "http://c:9/v1/metrics"},
		{"environment over the config key", []string{"--config", file}, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, grpc, DefaultEndpoint, grpc, DefaultEndpoint},
		{"flag over the environment", []string{"--otlp-protocol", "grpc"}, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
			grpc, DefaultEndpoint, grpc, DefaultEndpoint},
		{"the generic endpoint flag beats a signal's variable", []string{"--otlp-endpoint", "http://c:4318"}, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/x"},
			http, "http://c:4318/v1/traces", http, "http://c:4318/v1/metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(append(tc.args, "--metrics-interval", "0", "syscall:read"), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			got := [4]string{s.Traces.Protocol, s.Traces.Endpoint, s.Metrics.Protocol, s.Metrics.Endpoint}
			if want := [4]string{tc.traces, tc.tracesURL, tc.metrics, tc.metricsURL}; got != want {
				t.Errorf("traces %s %s, metrics %s %s; want %s %s, %s %s", got[0], got[1], got[2], got[3], want[0], want[1], want[2], want[3])
			}
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--otlp-protocol", "http/json"}, nil, `--otlp-protocol "http/json": kretspan supports only the OTLP protocols grpc and http/protobuf`},
		{nil, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http"}, `OTEL_EXPORTER_OTLP_PROTOCOL="http": kretspan supports only`},
		{nil, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json": kretspan supports only`},
		{nil, map[string]string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "GRPC"}, `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="GRPC": kretspan supports only`},
		{[]string{"--config", testprocess.WriteConfig(t, "otlp_protocol: thrift\n")}, nil, `otlp_protocol "thrift": kretspan supports only`},
	} {
		_, err := Load(append(tc.args, "syscall:read"), envOf(tc.env))
		checkError(t, err, tc.want)
	}
}

func TestEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
			"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20x,tenant=a", "OTEL_RESOURCE_ATTRIBUTES": "k8s.node.name=n1,env=prod"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://tempo.example:443"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::bad"}, `OTEL_EXPORTER_OTLP_ENDPOINT="::bad": not a URL`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "localhost:4317"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "localhost:4317"}, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://host:21"}, "want a URL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "milliseconds"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"}, "milliseconds"},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "-5"}, "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, "true or false"},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "gzip or none"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "key=value"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=%zz"}, "percent-encoding"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=v"}, "OTEL_RESOURCE_ATTRIBUTES"},
		// OTLP refuses a request holding a string that is not UTF-8: every export would fail.
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=caf%C3%A9", "OTEL_SERVICE_NAME": "café"}, ""},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=%FF"}, "not valid UTF-8"},
		{map[string]string{"OTEL_SERVICE_NAME": "svc\xff"}, "not valid UTF-8"},
		// Empty is unset, as the OpenTelemetry specification says.
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "", "OTEL_EXPORTER_OTLP_HEADERS": " ", "OTEL_SERVICE_NAME": ""}, ""},
		// Each signal's form is checked, named in the error.
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "9223372036854775807"}, `OTEL_EXPORTER_OTLP_TIMEOUT="9223372036854775807": want a positive number of milliseconds`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="zstd": want gzip or none`},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_INSECURE": "yes please"}, `OTEL_EXPORTER_OTLP_METRICS_INSECURE="yes please": want true or false`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=b,c"}, `OTEL_EXPORTER_OTLP_TRACES_HEADERS: "c": want comma-separated key=value pairs`},
		// A signal's own variable wins, but the general one is still checked: otlptracegrpc reads it.
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "5", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "5", "OTEL_EXPORTER_OTLP_TIMEOUT": "x"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		// A client certificate and its key go together, for each signal.
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "/c.pem"},
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE is set without OTEL_EXPORTER_OTLP_CLIENT_KEY or OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/c.pem"},
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is set without OTEL_EXPORTER_OTLP_CLIENT_KEY or OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"},
		{map[string]string{"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY": "/k.pem"},
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY is set without OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE or OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/c.pem", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/k.pem", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY": " "}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "/c.pem", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/k.pem",
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE": "/m.pem"}, ""},
	} {
		_, err := Load([]string{"syscall:read"}, envOf(tc.env))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.env, err)
		case tc.want != "":
			checkError(t, err, tc.want)
		}
	}
	// The flag wins, but a malformed variable is still an error: the clients would read it.
	_, err := Load([]string{"--otlp-endpoint", "http://flag:4317", "syscall:read"}, envOf(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::bad"}))
	checkError(t, err, "OTEL_EXPORTER_OTLP_ENDPOINT")
}

// The OTLP client variables, resolved for each signal: a signal's own variable over the general
// one, each variable on its own, as the OpenTelemetry specification says.
func TestClientVariables(t *testing.T) {
	type client = exporter.OTLPClient
	general := map[string]string{"authorization": "Bearer token", "tenant": "a"}
	for _, tc := range []struct {
		name            string
		env             map[string]string
		traces, metrics client
	}{
		{"none", nil, client{}, client{}},
		{"general headers, percent-decoded", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20token, tenant = a"},
			client{Headers: general}, client{Headers: general}},
		{"the traces headers replace the general ones", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20token,tenant=a", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "tenant=traces"},
			client{Headers: map[string]string{"tenant": "traces"}}, client{Headers: general}},
		{"a name given twice keeps its last value", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_HEADERS": "Tenant=a,tenant=b,x=a=b"},
			client{}, client{Headers: map[string]string{"tenant": "b", "x": "a=b"}}},
		{"compression", map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION": "none"},
			client{Gzip: true}, client{}},
		{"the traces compression", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip"}, client{Gzip: true}, client{}},
		{"timeout", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "5000", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "200"},
			client{Timeout: 200 * time.Millisecond}, client{Timeout: 5 * time.Second}},
		{"insecure changes nothing", map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "true"}, client{}, client{}},
		{"certificates", map[string]string{
			"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": "/traces-ca.pem",
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/client.pem", "OTEL_EXPORTER_OTLP_CLIENT_KEY": "/client.key",
			"OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY": "/metrics.key", "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE": "/metrics.pem",
		},
			client{Certificate: "/traces-ca.pem", ClientCertificate: "/client.pem", ClientKey: "/client.key"},
			client{Certificate: "/ca.pem", ClientCertificate: "/metrics.pem", ClientKey: "/metrics.key"}},
		{"a blank signal's variable is unset", map[string]string{
			"OTEL_EXPORTER_OTLP_HEADERS": "tenant=a", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": " ",
			"OTEL_EXPORTER_OTLP_TIMEOUT": "300", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "",
		},
			client{Headers: map[string]string{"tenant": "a"}, Timeout: 300 * time.Millisecond},
			client{Headers: map[string]string{"tenant": "a"}, Timeout: 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load([]string{"syscall:read"}, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Traces.Client, tc.traces) || !reflect.DeepEqual(s.Metrics.Client, tc.metrics) {
				t.Errorf("traces %+v, metrics %+v; want %+v, %+v", s.Traces.Client, s.Metrics.Client, tc.traces, tc.metrics)
			}
		})
	}
	// The headers may hold credentials: an error quotes the bad pair, not the list.
	_, err := Load([]string{"syscall:read"}, envOf(map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20secret,tenant"}))
	checkError(t, err, `OTEL_EXPORTER_OTLP_HEADERS: "tenant": want comma-separated key=value pairs`)
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the other headers", err)
	}
	// Every form of every variable: blank is unset, and package config documents it.
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, cv := range clientVars {
		for _, prefix := range []string{"OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_METRICS_"} {
			name := prefix + cv.suffix
			s, err := Load([]string{"syscall:read"}, envOf(map[string]string{name: " "}))
			if err != nil || !reflect.DeepEqual(s.Traces.Client, client{}) || !reflect.DeepEqual(s.Metrics.Client, client{}) {
				t.Errorf("%s blank: %v, %+v, %+v", name, err, s.Traces.Client, s.Metrics.Client)
			}
			if !regexp.MustCompile(`\b` + name + `\b`).Match(doc) {
				t.Errorf("doc.go does not document %s", name)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"bad yaml", "exporter: [console\n", "config"},
		{"not a mapping", "- a\n- b\n", "!!seq"},
		{"unknown key", "exporter: console\nexporterr: none\n", `line 2: unknown setting "exporterr"`},
		{"flag-only setting", "config: other.yaml\n", `unknown setting "config"`},
		{"twice", "comm: a\ncomm: b\n", `line 2: "comm" given twice`},
		{"list for a value", "comm: [a]\n", "comm: want a single value"},
		{"value for a list", "pids: 5\n", "pids: want a list"},
		{"probe without spec", "probes:\n  - sample: 0.5\n", "probes[0]: missing spec"},
		{"blank spec", "probes:\n  - syscall:read\n  - spec: '  '\n", "probes[1]: missing spec"},
		{"bad duration", "duration: soon\n", `line 1: duration "soon": want a duration`},
		{"negative pid", "pids: [-1]\n", `pids[0]: "-1": want a process id`},
		{"bad exporter", "exporter: foo\nprobes: [syscall:read]\n", `exporter "foo"`},
		{"bad probe sample", "probes:\n  - spec: syscall:read\n    sample: 2\n", "sample 2"},
		{"bad global sample", "sample: 0\nprobes: [syscall:read]\n", "sample 0"},
		{"negative probe min_duration", "probes:\n  - spec: syscall:read\n    min_duration: -1ms\n", "min_duration -1ms"},
		{"bad probe spec", "probes: ['kprobe:']\n", "missing function"},
		{"misspelt probe key", "probes:\n  - spec: syscall:read\n    smaple: 0.1\n", `unknown probe setting "smaple" (want one of spec, min_duration, errors_only, sample, not_failures, sched, args)`},
		{"zero pid", "pids: [0]\nprobes: [syscall:read]\n", `"0"`},
		{"value for a cgroup list", "cgroups: kubepods.slice\n", "cgroups: want a list"},
		{"bad container", "containers: [" + containerID + ", web]\n", `containers[1]: "web": want a container id`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := testprocess.WriteConfig(t, tc.yaml)
			_, err := load("--config", path)
			checkError(t, err, tc.want)
			if err != nil && !strings.Contains(err.Error(), "config "+path+": ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	_, err := load("--config", filepath.Join(t.TempDir(), "missing.yaml"), "syscall:read")
	checkError(t, err, "missing.yaml")
}

const fullConfig = `
exporter: console
otlp_endpoint: http://file:4317
duration: 30s
pids: [10, 11]
comm: nginx
cgroups: [kubepods.slice]
containers: [3f4e5d6c7b8a]
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
	path := testprocess.WriteConfig(t, fullConfig)
	s, err := load("--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if s.ConfigFile != path || s.Exporter != "console" || s.Traces.Endpoint != "http://file:4317" || s.Metrics.Endpoint != "http://file:4317" ||
		s.Duration != 30*time.Second || !slices.Equal(s.PIDs, []uint32{10, 11}) ||
		s.Comm != "nginx" || !s.KernelThreads || s.MaxInflight != 500 || s.MaxGlob != 50 || s.RingBufferSize != 65536 ||
		s.BatchSize != 64 || s.BatchTimeout != 50*time.Millisecond || s.QueueBatches != 2 ||
		!slices.Equal(s.Cgroups, []string{"kubepods.slice"}) || !slices.Equal(s.Containers, []string{"3f4e5d6c7b8a"}) {
		t.Errorf("settings from file %+v", s)
	}
	if !slices.Equal(specs(s), []string{"syscall:openat", "kprobe:vfs_read", "uprobe:libc:malloc"}) {
		t.Fatalf("probes %q", specs(s))
	}
	// Per-probe filters override the global ones field by field.
	for i, want := range []bpf.Filter{
		{MinDuration: time.Millisecond, SampleRatio: 0.5},
		{MinDuration: 10 * time.Microsecond, ErrorsOnly: true, SampleRatio: 0.5},
		{MinDuration: time.Millisecond, ErrorsOnly: false, SampleRatio: 0.01},
	} {
		want.NotFailures = errno.DefaultSet()
		if got := s.ProbeFilter(s.Probes[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("filter of %s = %+v, want %+v", s.Probes[i].Spec.Raw, got, want)
		}
	}
}

// Every filter field is a per-probe setting: a probe's own value overrides the run's.
func TestEveryFilterFieldIsPerProbe(t *testing.T) {
	var own Filter
	v := reflect.ValueOf(&own).Elem()
	for i := range v.NumField() {
		v.Field(i).Set(reflect.New(v.Field(i).Type().Elem()))
	}
	got := reflect.ValueOf(Settings{}.probeFilter(Probe{Filter: own}))
	for i := range got.NumField() {
		if got.Field(i).Pointer() != v.Field(i).Pointer() {
			t.Errorf("a probe's own %s does not override the run's", v.Type().Field(i).Name)
		}
	}
}

func TestExplicitFlagsBeatConfigFile(t *testing.T) {
	path := testprocess.WriteConfig(t, fullConfig)
	s, err := load("--exporter", "none", "--config", path, "--duration", "0s", "--pid", "99", "--max-glob", "1000",
		"--batch-size", "512", "--kernel-threads=false", "--sample", "1", "--errors-only", "--cgroup", "system.slice", "syscall:write")
	if err != nil {
		t.Fatal(err)
	}
	// Given explicitly, even at the default value: the flag wins. A repeatable flag adds to the file's list.
	if s.Exporter != "none" || s.Duration != 0 || !slices.Equal(s.PIDs, []uint32{10, 11, 99}) || s.MaxGlob != 1000 || s.BatchSize != 512 || s.KernelThreads ||
		!slices.Equal(s.Cgroups, []string{"kubepods.slice", "system.slice"}) {
		t.Errorf("explicit flags lost to the file: %+v", s)
	}
	// Not given: the file's value.
	if s.Comm != "nginx" || s.MaxInflight != 500 || s.Traces.Endpoint != "http://file:4317" || s.QueueBatches != 2 || s.BatchTimeout != 50*time.Millisecond {
		t.Errorf("file values lost: %+v", s)
	}
	// Probes from the file come first, then the command line's.
	if len(s.Probes) != 4 || s.Probes[3].Spec.Raw != "syscall:write" {
		t.Errorf("probes %q", specs(s))
	}
	// Global filters: explicit flags over the file; the file's min_duration stays.
	if got, want := s.ProbeFilter(s.Probes[3]), (bpf.Filter{MinDuration: time.Millisecond, ErrorsOnly: true, SampleRatio: 1, NotFailures: errno.DefaultSet()}); !reflect.DeepEqual(got, want) {
		t.Errorf("command-line probe filter %+v, want %+v", got, want)
	}
	// A probe's own filters in the file still override the global ones.
	if got, want := s.ProbeFilter(s.Probes[2]), (bpf.Filter{MinDuration: time.Millisecond, ErrorsOnly: false, SampleRatio: 0.01, NotFailures: errno.DefaultSet()}); !reflect.DeepEqual(got, want) {
		t.Errorf("file probe filter %+v, want %+v", got, want)
	}
}

func TestLastConfigFileWins(t *testing.T) {
	first, last := testprocess.WriteConfig(t, "comm: first\n"), testprocess.WriteConfig(t, "comm: last\n")
	s, err := load("--config", first, "--config", last, "syscall:read")
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != "last" || s.ConfigFile != last {
		t.Errorf("comm %q from %s", s.Comm, s.ConfigFile)
	}
}

func TestConfigEmptyAndComments(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "---\n"} {
		s, err := load("--config", testprocess.WriteConfig(t, text), "syscall:read")
		if err != nil {
			t.Errorf("config %q: %v", text, err)
		}
		if s.Exporter != "otlp" || s.MaxGlob != 1000 {
			t.Errorf("config %q changed the defaults: %+v", text, s)
		}
	}
}

// The example configs are part of the documentation: they must load.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../examples/configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, file := range files {
		if _, err := load("--config", file); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(""))
	f.Add([]byte("probes:\n  - spec: syscall:read\n    sample: 0.5\n"))
	f.Add([]byte("exporter: [console\n"))
	f.Add([]byte("pids: [1, 2]\nduration: 1s\nmin_duration: -1s\n"))
	f.Add([]byte("probes: [a, {spec: b, errors_only: true}, [c]]\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("sample: .nan\nprobes: [x]\nringbuf_size: 4096\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := defaults()
		if err := decodeFile(&s, data); err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.HasPrefix(err.Error(), "yaml: ") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		for i, p := range s.Probes {
			if strings.TrimSpace(p.Spec.Raw) == "" {
				t.Fatalf("probes[%d] without a spec accepted", i)
			}
		}
		for _, p := range s.Probes {
			f := s.ProbeFilter(p)
			if f.MinDuration < 0 || (f.SampleRatio != 0 && !(f.SampleRatio > 0 && f.SampleRatio <= 1)) {
				t.Fatalf("accepted settings give filter %+v", f)
			}
		}
		if bpf.CheckRingBufferSize(s.RingBufferSize) != nil || bpf.CheckComm(s.Comm) != nil || s.MaxGlob < 1 || s.BatchSize < 1 || s.QueueBatches < 1 || s.BatchTimeout <= 0 {
			t.Fatalf("accepted settings %+v", s)
		}
	})
}

func TestNotFailures(t *testing.T) {
	path := testprocess.WriteConfig(t, `
not_failures: EAGAIN
probes:
  - syscall:read
  - spec: syscall:connect
    not_failures: EINPROGRESS,EALREADY
  - spec: syscall:write
    not_failures: none
`)
	s, err := load("--config", path, "syscall:openat")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"EAGAIN", "EINPROGRESS,EALREADY", "none", "EAGAIN"} {
		if got := s.ProbeFilter(s.Probes[i]).NotFailures.String(); got != want {
			t.Errorf("%s: not failures %q, want %q", s.Probes[i].Spec.Raw, got, want)
		}
	}
	s, err = load("--not-failures", "none", "syscall:openat")
	if err != nil || s.ProbeFilter(s.Probes[0]).NotFailures.String() != "none" {
		t.Errorf("--not-failures none: %v, %v", s.ProbeFilter(s.Probes[0]).NotFailures, err)
	}
	if _, err := load("--not-failures", "EAGAIN,ENOSUCH", "syscall:openat"); err == nil || !strings.Contains(err.Error(), "ENOSUCH") {
		t.Errorf("an unknown errno name: %v", err)
	}
}

// OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER map onto --exporter and --metrics-exporter, which
// win over them; metrics follow the spans to OTLP unless told otherwise.
func TestExporterVariables(t *testing.T) {
	for _, tc := range []struct {
		name            string
		args            []string
		env             map[string]string
		traces, metrics string
	}{
		{"defaults", nil, nil, "otlp", "otlp"},
		{"spans to the console, no metrics", nil, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "console", "none"},
		{"metrics off", nil, map[string]string{"OTEL_METRICS_EXPORTER": "none"}, "otlp", "none"},
		{"metrics over OTLP whatever the spans", nil, map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "otlp"}, "none", "otlp"},
		{"the flags win", []string{"--exporter", "otlp", "--metrics-exporter", "none"}, map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "otlp"}, "otlp", "none"},
		{"an empty variable is unset", nil, map[string]string{"OTEL_TRACES_EXPORTER": "", "OTEL_METRICS_EXPORTER": " "}, "otlp", "otlp"},
		{"Prometheus whatever the spans", nil, map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "prometheus"}, "console", "prometheus"},
		{"Prometheus by flag", []string{"--metrics-exporter", "prometheus"}, map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, "otlp", "prometheus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(append(tc.args, "syscall:read"), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.Exporter != tc.traces || s.MetricsExporter != tc.metrics {
				t.Errorf("spans to %s, metrics to %s; want %s and %s", s.Exporter, s.MetricsExporter, tc.traces, tc.metrics)
			}
		})
	}
	for _, env := range []map[string]string{{"OTEL_TRACES_EXPORTER": "zipkin"}, {"OTEL_METRICS_EXPORTER": "console"}} {
		_, err := Load([]string{"syscall:read"}, envOf(env))
		for name := range env {
			checkError(t, err, name+"=")
		}
	}
}

// The address Prometheus's /metrics is served on: the flag, the config key, and the two
// variables of the OpenTelemetry specification, each of which sets its part of the address.
func TestPrometheusAddress(t *testing.T) {
	file := testprocess.WriteConfig(t, "prometheus_address: 10.0.0.1:9000\n")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "localhost:9464"},
		{"flag", []string{"--prometheus-address", "0.0.0.0:9100"}, nil, "0.0.0.0:9100"},
		{"IPv6 flag", []string{"--prometheus-address", "[::1]:9100"}, nil, "[::1]:9100"},
		{"host variable", nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0"}, "0.0.0.0:9464"},
		{"port variable", nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "9100"}, "localhost:9100"},
		{"both variables", nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": "metrics.local", "OTEL_EXPORTER_PROMETHEUS_PORT": "9100"}, "metrics.local:9100"},
		{"an IPv6 host variable", nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": "::1"}, "[::1]:9464"},
		{"config key", []string{"--config", file}, nil, "10.0.0.1:9000"},
		{"a variable over its part of the config key", []string{"--config", file}, map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "9100"}, "10.0.0.1:9100"},
		{"the flag over all", []string{"--config", file, "--prometheus-address", "127.0.0.1:9200"},
			map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0", "OTEL_EXPORTER_PROMETHEUS_PORT": "9100"}, "127.0.0.1:9200"},
		{"blank is unset", nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": " ", "OTEL_EXPORTER_PROMETHEUS_PORT": ""}, "localhost:9464"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(append(tc.args, "--metrics-exporter", "prometheus", "syscall:read"), envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.PrometheusAddress != tc.want || s.MetricsExporter != "prometheus" {
				t.Errorf("metrics to %s at %q, want prometheus at %q", s.MetricsExporter, s.PrometheusAddress, tc.want)
			}
		})
	}
}

func TestPrometheusAddressErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--prometheus-address", "localhost"}, nil, `--prometheus-address "localhost": want HOST:PORT, such as localhost:9464`},
		{[]string{"--prometheus-address", "localhost:0"}, nil, `--prometheus-address "localhost:0": want a port number from 1 to 65535`},
		{[]string{"--prometheus-address", "localhost:65536"}, nil, `--prometheus-address "localhost:65536": want a port number`},
		{[]string{"--prometheus-address", "localhost:http"}, nil, `--prometheus-address "localhost:http": want a port number`},
		{[]string{"--prometheus-address", ":9464"}, nil, `--prometheus-address ":9464": want a host name or IP address (0.0.0.0 or :: for every interface)`},
		{[]string{"--prometheus-address", "a host:9464"}, nil, `"a host" is not a host name or IP address`},
		{[]string{"--prometheus-address="}, nil, "--prometheus-address: empty value"},
		{nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "99999"}, `OTEL_EXPORTER_PROMETHEUS_PORT="99999": want a port number from 1 to 65535`},
		{nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "0"}, `OTEL_EXPORTER_PROMETHEUS_PORT="0": want a port number`},
		{nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "-1"}, `OTEL_EXPORTER_PROMETHEUS_PORT="-1"`},
		{nil, map[string]string{"OTEL_EXPORTER_PROMETHEUS_HOST": "http://localhost"}, `OTEL_EXPORTER_PROMETHEUS_HOST="http://localhost": "http://localhost" is not a host name`},
		{[]string{"--config", testprocess.WriteConfig(t, "prometheus_address: 9464\n")}, nil, `prometheus_address "9464": want HOST:PORT`},
		// The flag wins, but a malformed variable is still a mistake to point out.
		{[]string{"--prometheus-address", "localhost:9100"}, map[string]string{"OTEL_EXPORTER_PROMETHEUS_PORT": "x"}, "OTEL_EXPORTER_PROMETHEUS_PORT"},
	} {
		_, err := Load(append(tc.args, "syscall:read"), envOf(tc.env))
		checkError(t, err, tc.want)
	}
}
