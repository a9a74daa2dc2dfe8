package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kretspan/kretspan/cgroup"
	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/summary"
)

// ChurnResult is the process-churn row: a workload forks short-lived children one after
// another, each making one traced call, while kretspan traces them with a resource per process.
type ChurnResult struct {
	Children    int
	Elapsed     time.Duration // the workload's
	Spans       int
	OwnResource int // spans whose resource is their process's: its pid, and if read in full its parent
	ReadInFull  int // of those, resources read from /proc before the child exited (the rest: from the record)
	Processes   summary.Processes
	CachedAtEnd uint64
	PeakRSSKB   uint64
	WorkloadPID int
	Err         error
}

// churnSettle is how long the churn row waits after the last span for the cache's sweeps: one
// finds the children gone, the next drops them.
const churnSettle = 3 * time.Second

func runChurn(cfg Config, workload string) ChurnResult {
	res := ChurnResult{Children: cfg.ChurnChildren}
	fmt.Fprintf(cfg.Log, "process churn: %d children\n", res.Children)
	res.Err = churnRun(cfg, workload, &res)
	return res
}

func churnRun(cfg Config, workload string, res *ChurnResult) error {
	receiver, err := otlpreceiver.Start()
	if err != nil {
		return err
	}
	defer receiver.Stop()
	// The workload starts in a cgroup of its own, its children with it, and the row traces that
	// cgroup alone: other programs on the machine may be called loop too.
	mount, err := cgroup.Mount()
	if err != nil {
		return err
	}
	dir := filepath.Join(mount, fmt.Sprintf("kretspan-bench-churn-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer os.Remove(dir) // empty once the workload has exited: it reaps every child
	cgroupFD, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer cgroupFD.Close()
	k, err := startKretspan(cfg.Kretspan, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms", "--cgroup", dir, "syscall:getppid")
	if err != nil {
		return err
	}
	defer k.kill() // nothing to kill once it has stopped: exited is closed then
	cmd := exec.Command(workload, "churn", "getppid", strconv.Itoa(res.Children), "0")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cgroupFD.Fd())}
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	res.WorkloadPID = cmd.Process.Pid
	var children int
	var ns int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "children %d elapsed_ns %d", &children, &ns); err != nil || children != res.Children {
		return fmt.Errorf("workload said %q", out)
	}
	res.Elapsed = time.Duration(ns)
	receiver.WaitFor(60*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= res.Children })
	time.Sleep(churnSettle)
	if res.PeakRSSKB, err = procStatusKB(k.cmd.Process.Pid, "VmHWM"); err != nil {
		return err
	}
	if err := k.stop(); err != nil {
		return err
	}
	if _, res.Processes, err = summary.ParseServices(k.stderr.String()); err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, s := range receiver.Spans() {
		res.Spans++
		pid, _ := s.Attr("process.pid").(int64)
		if seen[pid] || s.Resource["process.pid"] != pid {
			continue
		}
		seen[pid] = true
		if s.Resource["process.executable.path"] == nil {
			res.OwnResource++
			continue
		}
		if s.Resource["process.parent_pid"] == int64(res.WorkloadPID) {
			res.OwnResource++
			res.ReadInFull++
		}
	}
	return nil
}

func churnRow(c ChurnResult) tableRow {
	row := tableRow{part: "processes", row: fmt.Sprintf("process churn: %d short-lived processes, one getppid each, a resource per process", c.Children),
		target: fmt.Sprintf("every span its process's resource; none cached once exited and exported; ≤ %d MiB", TargetPeakRSSKB>>10), meets: "-"}
	if c.Err != nil {
		row.result = "failed: " + c.Err.Error()
		return row
	}
	row.result = fmt.Sprintf("%d of %d spans with their process's resource; %d processes read, %d cached at the end; peak RSS %.1f MiB",
		c.OwnResource, c.Spans, c.Processes.Read, c.Processes.Cached, float64(c.PeakRSSKB)/1024)
	row.detail = fmt.Sprintf("%d children in %v; %d resources read from /proc before the child exited, the rest from the record (pid, command name)",
		c.Children, c.Elapsed.Round(time.Millisecond), c.ReadInFull)
	row.meets = yesNo(c.Spans == c.Children && c.OwnResource == c.Children && c.Processes.Read == uint64(c.Children) &&
		c.Processes.Cached == 0 && c.PeakRSSKB <= TargetPeakRSSKB)
	return row
}
