package bpf

import (
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"

	"github.com/kretspan/kretspan/probe"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs (run as root, as .ci/run does)")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
}

func testConfig() Config {
	return Config{RingBufferSize: 1 << 20, PollInterval: 20 * time.Millisecond}
}

// Both ways of waiting for the ring deliver every record, those below the wakeup threshold
// within the poll interval, and all that remain when Stop is called.
func TestKernelSyscallTracepointTimesNanosleep(t *testing.T) {
	requireRoot(t)
	t.Run("netpoller", func(t *testing.T) { timeNanosleep(t, true) })
	t.Run("ring reader", func(t *testing.T) { timeNanosleep(t, false) })
}

func timeNanosleep(t *testing.T, netpoller bool) {
	kernel := &probe.Kernel{TracefsDir: DetectFeatures().TracefsDir}
	spec, err := probe.Parse("syscall:clock_nanosleep")
	if err != nil {
		t.Fatal(err)
	}
	targets, _, err := probe.Resolve([]probe.Spec{spec}, kernel, 10)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.PIDs = []uint32{uint32(os.Getpid())}
	tracer, err := Start(cfg, []Probe{{Target: targets[0]}})
	if err != nil {
		t.Fatal(err)
	}
	defer tracer.Close()
	if tracer.waiter == nil {
		t.Fatal("the netpoller cannot watch the ring buffer")
	}
	if !netpoller {
		if err := tracer.waiter.close(); err != nil {
			t.Fatal(err)
		}
		tracer.waiter = nil
	}

	const sleep = 20 * time.Millisecond
	const calls = 3
	// The workload's own clock around each call bounds its span: the syscall runs inside it.
	var measured [calls]time.Duration
	called := make(chan struct{})
	go func() {
		defer close(called)
		for i := range calls {
			start := time.Now()
			nanosleep(sleep)
			measured[i] = time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
		tracer.Stop()
	}()
	var events []Event
	if err := tracer.Read(func(e *Event) { events = append(events, *e) }, func() {}); err != nil {
		t.Fatal(err)
	}
	<-called
	if len(events) != calls {
		t.Fatalf("got %d events, want %d", len(events), calls)
	}
	for i, e := range events {
		d := time.Duration(e.EndNs - e.StartNs)
		if d < sleep || d > measured[i] {
			t.Errorf("call %d: duration %v, want at least the %v sleep and at most the %v the caller measured around it", i, d, sleep, measured[i])
		}
		if e.Ret != 0 || e.Pid != uint32(os.Getpid()) || e.ProbeId != targets[0].ID || e.ParentSpanId != 0 || e.SpanId == 0 {
			t.Errorf("unexpected event %+v", e)
		}
	}
	counters, err := tracer.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c := counters[targets[0].ID]; c.Counts[CounterSubmitted] != calls || c.Counts[CounterEntered]-c.Counts[CounterFilteredEntry] != calls {
		t.Errorf("counters %+v, want %d entered and submitted", c, calls)
	}
}
