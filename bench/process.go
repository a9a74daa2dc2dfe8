package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kretspan/kretspan/internal/summary"
	"github.com/kretspan/kretspan/internal/testprocess"
	"github.com/kretspan/kretspan/processinfo"
)

// benchFunc is the workload's uprobed function.
const benchFunc = "bench_func"

// runWorkload runs the workload and returns its output lines.
func runWorkload(path string, args ...string) ([]string, error) {
	out, err := exec.Command(path, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("workload %v: %v: %s", args, err, ee.Stderr)
		}
		return nil, fmt.Errorf("workload %v: %w", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// overheadRun runs calls×reps calls and returns each repetition's ns per call.
func overheadRun(workload string, h hook, calls, reps int) ([]float64, error) {
	lines, err := runWorkload(workload, "overhead", h.call, strconv.Itoa(calls), strconv.Itoa(reps))
	if err != nil {
		return nil, err
	}
	var ns []float64
	for _, l := range lines {
		var v float64
		if _, err := fmt.Sscanf(l, "ns_per_call %g", &v); err != nil {
			return nil, fmt.Errorf("workload said %q", l)
		}
		ns = append(ns, v)
	}
	if len(ns) != reps {
		return nil, fmt.Errorf("workload reported %d repetitions, want %d", len(ns), reps)
	}
	return ns, nil
}

// rateRun makes calls at rate per second (0: flat out) for d; it returns the calls made and the time taken.
func rateRun(workload string, h hook, rate int, d time.Duration) (uint64, time.Duration, error) {
	lines, err := runWorkload(workload, "rate", h.call, strconv.Itoa(rate), strconv.FormatInt(d.Milliseconds(), 10))
	if err != nil {
		return 0, 0, err
	}
	var calls uint64
	var ns int64
	if _, err := fmt.Sscanf(lines[0], "calls %d elapsed_ns %d", &calls, &ns); err != nil {
		return 0, 0, fmt.Errorf("workload said %q", lines[0])
	}
	return calls, time.Duration(ns), nil
}

// tool is a running tracer process: kretspan or bpftrace.
type tool struct {
	cmd    *exec.Cmd
	stderr testprocess.SyncBuffer
	exited chan struct{}
	err    error
}

func startTool(name string, args ...string) (*tool, error) {
	t := &tool{cmd: exec.Command(name, args...), exited: make(chan struct{})}
	t.cmd.Stdout = nil // /dev/null
	t.cmd.Stderr = &t.stderr
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { t.err = t.cmd.Wait(); close(t.exited) }()
	return t, nil
}

// waitFor polls ready until it holds, the process exits or the timeout passes.
func (t *tool) waitFor(timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-t.exited:
			return fmt.Errorf("%s exited (%v) before attaching: %s", t.cmd.Path, t.err, lastLines(t.stderr.String(), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.kill()
			return fmt.Errorf("%s did not attach within %v: %s", t.cmd.Path, timeout, lastLines(t.stderr.String(), 5))
		}
	}
	return nil
}

// stop sends SIGINT and waits for the exit.
func (t *tool) stop() error {
	t.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-t.exited:
	case <-time.After(30 * time.Second):
		t.kill()
		return fmt.Errorf("%s did not exit within 30s of SIGINT", t.cmd.Path)
	}
	if t.err != nil {
		return fmt.Errorf("%s: %v: %s", t.cmd.Path, t.err, lastLines(t.stderr.String(), 5))
	}
	return nil
}

func (t *tool) kill() {
	t.cmd.Process.Kill()
	<-t.exited
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// startKretspan starts kretspan and waits until it has attached.
func startKretspan(bin string, args ...string) (*tool, error) {
	t, err := startTool(bin, args...)
	if err != nil {
		return nil, err
	}
	if err := t.waitFor(60*time.Second, func() bool { _, ready := summary.Ready(t.stderr.String()); return ready }); err != nil {
		return nil, err
	}
	return t, nil
}

// startBpftrace starts bpftrace with its output to /dev/null. bpftrace says it has attached only
// on stdout, so readiness is read from its file descriptors instead: one perf event per CPU for
// printf's buffer plus one per probe, and a program per probe, unchanged for 300ms.
func startBpftrace(script string, probes int) (*tool, error) {
	t, err := startTool("bpftrace", "-e", script)
	if err != nil {
		return nil, err
	}
	pid := t.cmd.Process.Pid
	var last string
	var since time.Time
	err = t.waitFor(60*time.Second, func() bool {
		perf, progs := countFDs(pid)
		now := fmt.Sprint(perf, progs)
		if now != last {
			last, since = now, time.Now()
			return false
		}
		return perf >= numCPU()+probes && progs >= probes && time.Since(since) > 300*time.Millisecond
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func countFDs(pid int) (perf, progs int) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		switch target {
		case "anon_inode:[perf_event]":
			perf++
		case "anon_inode:bpf-prog":
			progs++
		}
	}
	return perf, progs
}

// procCPU is a process's user+system CPU time so far (/proc/PID/stat).
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from 3 (state) on
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)          // field 14
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)          // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse %s", s)
	}
	return time.Duration(utime+stime) * time.Second / processinfo.ClockTicksPerSecond, nil
}

// procStatusKB is a /proc/PID/status field in kB (VmHWM, VmRSS).
func procStatusKB(pid int, field string) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Summary is kretspan's exit summary: its probe rows summed, and its user-space line.
type Summary struct {
	Calls, Exported, Filtered, SampledOut, Dropped, MissedReturns, InFlight uint64
	Received, UserExported, DroppedQueue, ExportFailed                      uint64
	KprobeMissed, RecursionSkipped                                          uint64 // the "kernel:" line, when kretspan prints one
}

// measureTraced runs measure while kretspan runs with args, and returns what measure measured
// and what kretspan's summary counted.
func measureTraced(binary string, args []string, measure func() ([]float64, error)) ([]float64, Summary, error) {
	return measureTracedThen(binary, args, measure, nil)
}

// measureTracedThen is measureTraced that, after measure and before stopping kretspan, calls then
// (when not nil) with kretspan's pid.
func measureTracedThen(binary string, args []string, measure func() ([]float64, error), then func(pid int) error) ([]float64, Summary, error) {
	k, err := startKretspan(binary, args...)
	if err != nil {
		return nil, Summary{}, err
	}
	ns, err := measure()
	if err == nil && then != nil {
		err = then(k.cmd.Process.Pid)
	}
	if err != nil {
		k.kill()
		return nil, Summary{}, err
	}
	if err := k.stop(); err != nil {
		return nil, Summary{}, err
	}
	s, err := parseSummary(k.stderr.String())
	if err != nil {
		return nil, Summary{}, err
	}
	return ns, s, nil
}

// parseSummary reads kretspan's summary from its stderr, summing the probe rows.
func parseSummary(stderr string) (Summary, error) {
	parsed, err := summary.Parse(stderr)
	if err != nil {
		return Summary{}, fmt.Errorf("%w: %s", err, lastLines(stderr, 5))
	}
	if len(parsed.Rows) == 0 {
		return Summary{}, fmt.Errorf("summary without probe rows")
	}
	s := Summary{
		Received: parsed.Received, UserExported: parsed.UserExported, DroppedQueue: parsed.QueueDropped, ExportFailed: parsed.Failed,
		KprobeMissed: parsed.KprobeMissed, RecursionSkipped: parsed.RecursionSkipped,
	}
	for _, r := range parsed.Rows {
		s.Calls += r.Calls
		s.Exported += r.Exported
		s.Filtered += r.Filtered
		s.SampledOut += r.SampledOut
		s.Dropped += r.Dropped
		s.MissedReturns += r.MissedReturns
		s.InFlight += r.InFlight
	}
	return s, nil
}
