package bpf

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/kretspan/kretspan/probe"
)

// BenchmarkKernelAttachKprobeGlob times a 1,000-function kprobe glob through kprobe.multi, the
// performance issue's target (≤ 2 s where kprobe.multi or fentry exist): resolving it (the
// kernel's function list, BTF return types) and attaching it, apart. sysfs attribute readers
// (*_show) are numerous and rarely called, so the probes cost next to nothing while attached.
// `make bench-attach` runs it on the matrix's 6.12 kernel; the kernel matrix keeps it working.
func BenchmarkKernelAttachKprobeGlob(b *testing.B) {
	requireRoot(b)
	features := DetectFeatures()
	if features.KprobeMulti != nil {
		b.Skipf("no kprobe.multi on this kernel (per-function kprobes attach one by one): %v", features.KprobeMulti)
	}
	const functions = 1000
	spec, err := probe.Parse("kprobe:*_show")
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	cfg.PIDs = []uint32{uint32(os.Getpid())}
	var resolving, attaching, detaching time.Duration
	for b.Loop() {
		start := time.Now()
		kernel := &probe.Kernel{Kprobes: true, KprobeMulti: true, TracefsDir: features.TracefsDir}
		targets, _, err := probe.Resolve([]probe.Spec{spec}, kernel, math.MaxInt)
		if err != nil {
			b.Fatal(err)
		}
		if len(targets) < functions {
			b.Skipf("%s matches %d functions here, fewer than %d", spec.Raw, len(targets), functions)
		}
		probes := make([]Probe, functions)
		for i, target := range targets[:functions] {
			target.ID = uint32(i + 1)
			probes[i] = Probe{Target: target}
		}
		resolved := time.Now()
		tracer, err := Start(cfg, probes)
		if err != nil {
			b.Fatal(err)
		}
		attached := time.Now()
		if err := tracer.Close(); err != nil {
			b.Fatal(err)
		}
		resolving += resolved.Sub(start)
		attaching += attached.Sub(resolved)
		detaching += time.Since(attached)
	}
	n := float64(b.N)
	b.ReportMetric(resolving.Seconds()/n, "resolve-s/op")
	b.ReportMetric(attaching.Seconds()/n, "attach-s/op")
	b.ReportMetric(detaching.Seconds()/n, "detach-s/op")
}
