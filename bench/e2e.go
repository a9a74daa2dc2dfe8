package bench

import (
	"fmt"
	"time"
)

// E2EResult is one end-to-end run: the workload calls getppid at a rate (0: flat out) while
// kretspan traces syscall:getppid and exports over an OTLP protocol to the receiver.
type E2EResult struct {
	Name        string // the rate's
	Protocol    OTLPProtocol
	Rate        int // offered rate asked for; 0: flat out
	Err         error
	Calls       uint64        // the workload's calls
	Elapsed     time.Duration // the workload's time
	Delivered   uint64        // spans the receiver counted
	Bytes       uint64        // their protobuf bytes
	Requests    uint64
	MetricReqs  uint64        // OTLP metrics exports kretspan made meanwhile
	DeliverTime time.Duration // from the workload's start to the last span's arrival
	CPU         time.Duration // kretspan's utime+stime from the workload's start to the last span
	PeakRSSKB   uint64        // kretspan's VmHWM
	Summary     Summary
}

func runE2E(cfg Config, workload string, receiver *Receiver) []E2EResult {
	h := hook{name: "tracepoint", call: "getppid"}
	var results []E2EResult
	// The protocols take turns at each rate, so that their rows compare under the same load.
	for _, rate := range []int{0, cfg.E2ERate} {
		name := "flat out"
		if rate > 0 {
			name = fmt.Sprintf("%dk calls/s offered", rate/1000)
		}
		for _, p := range protocols {
			fmt.Fprintf(cfg.Log, "end to end, %s: %s\n", p.Name, name)
			res := E2EResult{Name: name, Protocol: p, Rate: rate}
			res.Err = e2eRun(cfg, &res, workload, h, receiver)
			results = append(results, res)
		}
	}
	return results
}

func e2eRun(cfg Config, res *E2EResult, workload string, h hook, receiver *Receiver) error {
	k, err := startKretspan(cfg.Kretspan, append(receiver.kretspanArgs(res.Protocol), "syscall:getppid")...)
	if err != nil {
		return err
	}
	defer func() {
		select {
		case <-k.exited:
		default:
			k.kill()
		}
	}()
	pid := k.cmd.Process.Pid
	before := receiver.Counts()
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	if res.Calls, res.Elapsed, err = rateRun(workload, h, res.Rate, cfg.E2E); err != nil {
		return err
	}
	// Wait until the spans stop arriving: a batch waits at most --batch-timeout (200ms).
	last, lastChange := receiver.Counts(), time.Now()
	for time.Since(lastChange) < 700*time.Millisecond && time.Since(start) < cfg.E2E+60*time.Second {
		time.Sleep(50 * time.Millisecond)
		if c := receiver.Counts(); c.Spans != last.Spans {
			last, lastChange = c, time.Now()
		}
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	res.CPU = cpu1 - cpu0
	if res.PeakRSSKB, err = procStatusKB(pid, "VmHWM"); err != nil {
		return err
	}
	if err := k.stop(); err != nil {
		return err
	}
	if res.Summary, err = parseSummary(k.stderr.String()); err != nil {
		return err
	}
	after := receiver.Counts()
	if after.Err != nil {
		return fmt.Errorf("receiver: malformed request: %w", after.Err)
	}
	res.Delivered = after.Spans - before.Spans
	res.Bytes = after.Bytes - before.Bytes
	res.Requests = after.Requests - before.Requests
	res.MetricReqs = after.MetricRequests - before.MetricRequests
	if res.Delivered > 0 {
		res.DeliverTime = after.Last.Sub(start)
	}
	return nil
}

func runEncoder(cfg Config) EncoderResult {
	fmt.Fprintf(cfg.Log, "encoder: Pipeline.Add against proto.Marshal, %d rounds of %d batches of %d spans\n", cfg.EncoderRounds, cfg.EncoderBatches, encoderBatch)
	return MeasureEncoder(cfg.EncoderRounds, cfg.EncoderBatches)
}

func runInProcess(cfg Config) InProcessResult {
	fmt.Fprintln(cfg.Log, "in process: decode + span building and encoding")
	return MeasureInProcess(cfg.InProcessN)
}
