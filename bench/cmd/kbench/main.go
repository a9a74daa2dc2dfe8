// Command kbench runs kretspan's benchmarks (`make bench`) and prints one table. Run it as root.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kretspan/kretspan/bench"
)

func main() {
	cfg := bench.Full()
	quick := flag.Bool("quick", false, "every part with tiny counts, to check the benchmarks work (numbers mean little)")
	kretspan := flag.String("kretspan", "", "kretspan binary (default: build ./cmd/kretspan)")
	calls := flag.Int("calls", 0, "calls per repetition on the syscall tracepoints")
	uprobeCalls := flag.Int("uprobe-calls", 0, "calls per repetition on the uprobe")
	reps := flag.Int("reps", 0, "repetitions per overhead row on the tracepoints")
	uprobeReps := flag.Int("uprobe-reps", 0, "repetitions per overhead row on the uprobe")
	e2e := flag.Duration("e2e", 0, "how long each end-to-end run offers calls")
	argumentsOnly := flag.Bool("arguments-only", false, "measure only the rows of probes with and without --args")
	flag.Parse()
	if *quick {
		cfg = bench.Quick()
	}
	for _, o := range []struct {
		flag int
		dst  *int
	}{{*calls, &cfg.Calls}, {*uprobeCalls, &cfg.UprobeCalls}, {*reps, &cfg.Reps}, {*uprobeReps, &cfg.UprobeReps}} {
		if o.flag > 0 {
			*o.dst = o.flag
		}
	}
	if *e2e > 0 {
		cfg.E2E = *e2e
	}
	cfg.Kretspan = *kretspan
	cfg.ArgumentsOnly = *argumentsOnly
	cfg.Log = os.Stderr
	start := time.Now()
	r, err := bench.Run(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kbench: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kbench: done in %v\n\n", time.Since(start).Round(time.Second))
	r.Print(os.Stdout)
}
