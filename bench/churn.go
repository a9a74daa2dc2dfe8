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
// another, each executing a program that makes one traced call, while kretspan traces them with a
// resource per process.
type ChurnResult struct {
	Children int
	Elapsed  time.Duration // the workload's
	Spans    int
	// FullResource counts spans whose resource is all of their process's: its pid, parent,
	// executable and the service its environment names; PIDAndComm those with only the pid and
	// the command name a span record carries (the process was gone, and no exec record said more).
	FullResource, PIDAndComm int
	Processes                summary.Processes
	CachedAtEnd              uint64
	PeakRSSKB                uint64
	WorkloadPID              int
	Err                      error
}

// churnService is the service the churn children name in their environment.
const churnService = "churn-child"

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
	cmd.Env = []string{"OTEL_SERVICE_NAME=" + churnService} // the children inherit it
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
	executable, err := filepath.EvalSymlinks(workload)
	if err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, s := range receiver.Spans() {
		res.Spans++
		pid, _ := s.Attr("process.pid").(int64)
		r := s.Resource
		if seen[pid] || r["process.pid"] != pid {
			continue
		}
		seen[pid] = true
		switch {
		case r["process.parent_pid"] == int64(res.WorkloadPID) && r["process.executable.path"] == executable &&
			r["process.executable.name"] == filepath.Base(executable) && r["service.name"] == churnService:
			res.FullResource++
		case r["process.parent_pid"] == nil && r["process.executable.path"] == nil:
			res.PIDAndComm++
		default:
			fmt.Fprintf(cfg.Log, "process churn: child %d's resource is neither full nor pid and command name: %v\n", pid, r)
		}
	}
	return nil
}

func churnRow(c ChurnResult) tableRow {
	row := tableRow{part: "processes", row: fmt.Sprintf("process churn: %d short-lived processes, one getppid each, a resource per process", c.Children),
		target: fmt.Sprintf("every span its process's full resource; none cached once exited and exported; ≤ %d MiB", TargetPeakRSSKB>>10), meets: "-"}
	if c.Err != nil {
		row.result = "failed: " + c.Err.Error()
		return row
	}
	row.result = fmt.Sprintf("%d of %d spans with their process's full resource, %d with pid and command name only; %d processes read, %d cached at the end; peak RSS %.1f MiB",
		c.FullResource, c.Spans, c.PIDAndComm, c.Processes.Read, c.Processes.Cached, float64(c.PeakRSSKB)/1024)
	row.detail = fmt.Sprintf("%d children in %v; %d processes described by their exec record, having exited by their first span (the rest read from /proc); %d exec records lost",
		c.Children, c.Elapsed.Round(time.Millisecond), c.Processes.FromExec, c.Processes.LostExecRecords)
	row.meets = yesNo(c.Spans == c.Children && c.FullResource == c.Children && c.Processes.Read == uint64(c.Children) &&
		c.Processes.Cached == 0 && c.PeakRSSKB <= TargetPeakRSSKB)
	return row
}
