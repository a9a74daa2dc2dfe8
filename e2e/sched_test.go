package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/testprocess"
)

// TestSchedToJaeger traces a sleep and a CPU burn of the sched workload with --sched and
// --blocked-stacks into a real Jaeger, and checks the split Jaeger returns against the workload's
// own clocks, and the sleep's blocked event.
func TestSchedToJaeger(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	dir := testprocess.Built(t, "kretspan", "sched")
	workload := filepath.Join(dir, "sched")
	assets, _ := uiAssets(t)
	j := startJaeger(t, jaegerBin, assets)

	service := fmt.Sprintf("kretspan-sched-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	w := testprocess.StartWorkload(t, workload)
	k := testprocess.StartKretspan(t, filepath.Join(dir, "kretspan"), []string{"OTEL_SERVICE_NAME=" + service},
		"--otlp-endpoint", j.otlpEndpoint, "--pid", strconv.FormatInt(w.PID, 10), "--batch-timeout", "50ms",
		"--sched", "--blocked-stacks", "uprobe:"+workload+":sleep_call", "uprobe:"+workload+":burn_call")
	const ms = 100
	clocks := map[string][2]time.Duration{} // span name: the CPU time inside the call and around it
	for name, command := range map[string]string{"sleep_call": "sleep", "burn_call": "burn"} {
		var wall, cpu, outerWall, outerCPU int64
		answer := w.Do(t, fmt.Sprintf("%s %d", command, ms))
		if _, err := fmt.Sscanf(answer, "did %d %d %d %d", &wall, &cpu, &outerWall, &outerCPU); err != nil {
			t.Fatalf("workload said %q: %v", answer, err)
		}
		clocks[name] = [2]time.Duration{time.Duration(cpu), time.Duration(outerCPU)}
	}
	k.Stop(t)
	traces := j.waitForSpans(t, service, 2, 20*time.Second)
	var spans []jaegerSpan
	for _, tr := range traces {
		spans = append(spans, tr.Spans...)
	}
	if len(spans) != 2 {
		t.Fatalf("Jaeger holds %d spans, want 2:\n%s", len(spans), k.Stderr())
	}
	for _, s := range spans {
		value := func(key string) time.Duration {
			text, ok := tag(s.Tags, "kretspan.sched."+key)
			n, err := strconv.ParseInt(text, 10, 64)
			if !ok || err != nil {
				t.Fatalf("%s: no kretspan.sched.%s in %v", s.OperationName, key, s.Tags)
			}
			return time.Duration(n)
		}
		onCPU, runqueue, blocked := value("on_cpu_ns"), value("runqueue_ns"), value("blocked_ns")
		d := time.Duration(s.Duration) * time.Microsecond // Jaeger keeps microseconds
		if sum := onCPU + runqueue + blocked; sum < d-d/100 || sum > d+d/100+time.Microsecond {
			t.Errorf("%s: %v + %v + %v = %v, want its duration %v within 1%%", s.OperationName, onCPU, runqueue, blocked, sum, d)
		}
		cpu := clocks[s.OperationName]
		tolerance := max(cpu[0]/20, time.Millisecond)
		if onCPU < cpu[0]-tolerance || onCPU > cpu[1]+tolerance {
			t.Errorf("%s: %v on CPU, the workload's CPU clock says %v inside the call and %v around it", s.OperationName, onCPU, cpu[0], cpu[1])
		}
		var events []string
		for _, l := range s.Logs {
			event, _ := tag(l.Fields, "event")
			events = append(events, event)
		}
		switch s.OperationName {
		case "sleep_call":
			if blocked < ms*time.Millisecond-time.Millisecond {
				t.Errorf("sleep_call: blocked %v, want at least the sleep's %d ms", blocked, ms)
			}
			if len(s.Logs) != 1 || events[0] != "blocked" {
				t.Fatalf("sleep_call: events %v, want one blocked event", events)
			}
			stack, _ := tag(s.Logs[0].Fields, "code.stacktrace")
			if !strings.Contains(stack, "do_nanosleep+") || !strings.Contains(stack, "("+workload+")") {
				t.Errorf("sleep_call: the blocked stack names neither the kernel's do_nanosleep nor the workload:\n%s", stack)
			}
		case "burn_call":
			if len(s.Logs) != 0 {
				t.Errorf("burn_call: events %v, want none (it never blocks)", events)
			}
		default:
			t.Errorf("unexpected span %s", s.OperationName)
		}
	}
}
