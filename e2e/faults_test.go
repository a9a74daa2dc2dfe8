package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/testprocess"
)

// The collector is down when kretspan starts, comes up, is killed mid-run and comes back:
// kretspan keeps running with bounded memory, export resumes each time the collector is back,
// and every span it could not deliver is counted.
func TestKretspanSurvivesCollectorOutages(t *testing.T) {
	requireRoot(t)
	bin := jaegerBinary(t)
	assets, _ := uiAssets(t)
	kretspan, _ := build(t)
	driver := filepath.Join(filepath.Dir(kretspan), "driver")
	ports := freePorts(t, 4)
	service := fmt.Sprintf("kretspan-outage-%d", time.Now().UnixNano())
	d := testprocess.StartWorkload(t, driver)
	k := testprocess.StartKretspan(t, kretspan,
		[]string{"OTEL_SERVICE_NAME=" + service, "OTEL_EXPORTER_OTLP_TIMEOUT=2000"},
		"--otlp-endpoint", fmt.Sprintf("http://127.0.0.1:%d", ports[0]), "--pid", strconv.FormatInt(d.PID, 10),
		"--batch-size", "4", "--batch-timeout", "50ms", "--queue-batches", "4", "syscall:openat")
	opens := 0
	open := func(n int) {
		for range n {
			d.Do(t, "open /nonexistent/kretspan/outage")
			opens++
		}
	}
	// untilDelivered opens files until Jaeger holds a span of this run, and says how long it took.
	untilDelivered := func(j *jaeger, phase string) {
		start := time.Now()
		for time.Since(start) < 3*time.Minute {
			open(1)
			if traces, err := j.traces(service); err == nil && len(traces) > 0 {
				t.Logf("%s: spans reach Jaeger again after %v", phase, time.Since(start).Round(time.Millisecond))
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s: no span reached Jaeger within 3 minutes:\n%s", phase, k.Stderr())
	}

	open(40) // nobody listens yet
	time.Sleep(time.Second)
	j := startJaegerAt(t, bin, assets, ports)
	untilDelivered(j, "collector up after starting down")

	j.stop(t)
	open(40) // killed mid-run
	time.Sleep(time.Second)
	j = startJaegerAt(t, bin, assets, ports)
	untilDelivered(j, "collector restarted")

	if hwm := k.PeakRSS(t); hwm > 100<<20 {
		t.Errorf("peak RSS %d MiB through the outages; want it bounded (< 100 MiB)", hwm>>20)
	}
	k.SendSignal(syscall.SIGINT)
	select {
	case <-k.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("kretspan did not exit within 30s of SIGINT:\n%s", k.Stderr())
	}
	received, exported, dropped, failed := k.UserSpace(t)
	// Spans that failed to export make the exit status 1, so that it does not hide them.
	wantStatus := 0
	if failed > 0 {
		wantStatus = 1
	}
	if k.ExitCode() != wantStatus {
		t.Errorf("exit status %d with %d spans failed to export, want %d:\n%s", k.ExitCode(), failed, wantStatus, k.Stderr())
	}
	t.Logf("%d opens: %d received, %d exported, %d dropped (queue full), %d failed to export", opens, received, exported, dropped, failed)
	if received != uint64(opens) || received != exported+dropped+failed {
		t.Errorf("%d opens; kretspan received %d, exported %d, dropped %d, failed %d: want every one accounted for\n%s",
			opens, received, exported, dropped, failed, k.Stderr())
	}
	if dropped+failed == 0 {
		t.Errorf("nothing counted as lost although the collector was down for 80 opens")
	}
}
