// Package bench is kretspan's benchmark suite: end to end through a real OTLP receiver over
// gRPC and over HTTP, probe overhead against an empty program, a minimal entry/return program
// and bpftrace, the cost of filtered-out calls, and the in-process pipeline and encoder against
// protobuf-go. Run prints one table; see README.md.
package bench

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

//go:embed workload/loop.c
var loopSource []byte

// Config sets what Run measures.
type Config struct {
	Kretspan    string        // kretspan binary; built from ./cmd/kretspan into WorkDir when empty
	WorkDir     string        // where the workload is built; a temporary directory when empty
	Calls       int           // calls per repetition on the syscall tracepoints
	UprobeCalls int           // calls per repetition on the uprobe (each costs microseconds)
	Reps        int           // repetitions per row on the tracepoints; the median is reported
	UprobeReps  int           // repetitions per row on the uprobe (noisier: more, shorter ones)
	E2E         time.Duration // how long each end-to-end run offers calls
	E2ERate     int           // the paced end-to-end run's rate, calls/s
	InProcessN  int           // spans for the in-process benchmark
	// The encoder row's rounds, each of EncoderBatches batches through Pipeline.Add and as many
	// proto.Marshal calls; the medians of the rounds are reported.
	EncoderRounds, EncoderBatches int
	ChurnChildren                 int       // short-lived processes of the churn row
	Log                           io.Writer // progress
	ArgumentsOnly                 bool      // measure only the argument rows
}

// Full is the configuration of `make bench`.
func Full() Config {
	return Config{Calls: 1_000_000, UprobeCalls: 100_000, Reps: 3, UprobeReps: 5, E2E: 5 * time.Second, E2ERate: 100_000, InProcessN: 1_000_000,
		EncoderRounds: 30, EncoderBatches: 64, ChurnChildren: TargetChurnProcesses}
}

// Quick runs every part with tiny counts, to keep the benchmarks working (CI).
func Quick() Config {
	return Config{Calls: 20_000, UprobeCalls: 2_000, Reps: 2, UprobeReps: 2, E2E: 300 * time.Millisecond, E2ERate: 20_000, InProcessN: 5_000,
		EncoderRounds: 3, EncoderBatches: 4, ChurnChildren: 200}
}

// callsReps are the calls and repetitions of an overhead row, on a uprobe or not: a uprobe costs
// microseconds a call, so its rows make fewer calls in more, shorter repetitions.
func (cfg Config) callsReps(uprobe bool) (calls, reps int) {
	if uprobe {
		return cfg.UprobeCalls, max(cfg.UprobeReps, 1)
	}
	return cfg.Calls, cfg.Reps
}

// Run measures everything and returns the results; parts that cannot run say why in their rows.
func Run(cfg Config) (*Results, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the benchmarks load BPF programs: run them as root")
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "kretspan-bench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
	}
	r := &Results{Config: cfg, Machine: describeMachine()}
	r.LoadBefore = loadAvg()
	start := time.Now()

	workload, err := buildPrograms(&cfg)
	if err != nil {
		return nil, err
	}
	receiver, err := StartReceiver()
	if err != nil {
		return nil, err
	}
	defer receiver.Stop()

	if cfg.ArgumentsOnly {
		r.Args = runArgsOverhead(cfg, workload)
		r.LoadAfter, r.Elapsed = loadAvg(), time.Since(start)
		return r, nil
	}
	r.E2E = runE2E(cfg, workload, receiver)
	// The in-process row's ratio is to the encoder row's proto.Marshal: both in this run.
	r.Encoder = runEncoder(cfg)
	r.InProcess = runInProcess(cfg)
	r.Churn = runChurn(cfg, workload)
	for _, h := range []hook{{name: "tracepoint", call: "getppid"}, {name: "uprobe", call: "func", binary: workload}} {
		r.Overhead = append(r.Overhead, runOverhead(cfg, h, workload, receiver))
	}
	r.Sched = runSched(cfg, workload)
	r.Args = runArgsOverhead(cfg, workload)
	r.LoadAfter = loadAvg()
	r.Elapsed = time.Since(start)
	return r, nil
}

// buildPrograms builds the workload into cfg.WorkDir, and kretspan too unless cfg names one.
func buildPrograms(cfg *Config) (workload string, err error) {
	if workload, err = buildWorkload(cfg.WorkDir); err != nil {
		return "", err
	}
	if cfg.Kretspan == "" {
		cfg.Kretspan = filepath.Join(cfg.WorkDir, "kretspan")
		fmt.Fprintln(cfg.Log, "building kretspan")
		if out, err := exec.Command("go", "build", "-o", cfg.Kretspan, "github.com/kretspan/kretspan/cmd/kretspan").CombinedOutput(); err != nil {
			return "", fmt.Errorf("build kretspan: %v: %s", err, out)
		}
	}
	return workload, nil
}

func buildWorkload(dir string) (string, error) {
	src := filepath.Join(dir, "loop.c")
	bin := filepath.Join(dir, "loop")
	if err := os.WriteFile(src, loopSource, 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("cc", "-O2", "-g", "-Wall", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the workload (cc): %v: %s", err, out)
	}
	return bin, nil
}

// Machine describes where the benchmarks ran.
type Machine struct {
	Kernel, CPU string
	Cores       int
	MemTotal    string
	Bpftrace    string
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), CPU: "unknown", Bpftrace: "not installed"}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if kb, err := procStatusKBFile("/proc/meminfo", "MemTotal"); err == nil {
		m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if out, err := exec.Command("bpftrace", "--version").Output(); err == nil {
		m.Bpftrace = strings.TrimSpace(string(out))
	}
	return m
}

func procStatusKBFile(path, field string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			var kb uint64
			_, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func numCPU() int { return runtime.NumCPU() }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
