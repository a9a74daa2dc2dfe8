package otelbridge

import (
	"context"
	"testing"

	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/processinfo"
)

// gatedSink exports a batch only when the test lets it, and says which services it carried.
type gatedSink struct {
	gate     chan struct{}
	services chan []string
}

func (s gatedSink) Export(_ context.Context, b *Batch) error {
	<-s.gate
	request, err := b.Decode()
	if err != nil {
		return err
	}
	var names []string
	for _, rs := range request.ResourceSpans {
		names = append(names, resourceMap(rs.Resource)["service.name"].(string))
	}
	s.services <- names
	return nil
}

func (gatedSink) Shutdown(context.Context) error { return nil }

// The cache is keyed by pid and start time: a pid that names another process (reused) is read
// again, one process is read once however many spans it has, and a process that exited is
// dropped once no span of it waits for export, not before.
func TestProcessCacheKeyAndLifetime(t *testing.T) {
	processes := newFakeProcesses()
	sink := gatedSink{gate: make(chan struct{}), services: make(chan []string, 16)}
	p := newTestPipeline(t, sink, WithBatchSize(1), WithQueueBatches(4), WithProcesses(processes, false))
	p.processes.sweepEvery = 0 // every Idle sweeps
	add := func(pid uint32) {
		e := spantest.Event(1, 0, "comm")
		e.Pid = pid
		p.Add(&e)
	}
	exportOne := func(want string) {
		t.Helper()
		sink.gate <- struct{}{}
		if got := <-sink.services; len(got) != 1 || got[0] != want {
			t.Fatalf("exported the resources of services %v, want %s", got, want)
		}
	}
	cached := func(want uint64) {
		t.Helper()
		if got := p.Stats().ProcessesCached; got != want {
			t.Errorf("%d processes cached, want %d", got, want)
		}
	}

	processes.add(processinfo.Process{PID: 7, StartTicks: 100, ServiceName: "first"})
	add(7)
	add(7)
	exportOne("first")
	exportOne("first")
	p.Idle()
	cached(1)

	// Pid 7 is reused: the same pid, a later start. The sweep drops the old process at once.
	processes.add(processinfo.Process{PID: 7, StartTicks: 900, ServiceName: "second"})
	p.Idle()
	cached(0)
	if processes.sweeps != 2 {
		t.Errorf("the source swept %d times, want once per sweep of the cache: 2", processes.sweeps)
	}
	add(7)
	exportOne("second")
	if processes.reads[7] != 2 {
		t.Errorf("pid 7 read %d times, want twice: once per process", processes.reads[7])
	}

	// The process exits with a span still queued: it stays cached until that span is exported.
	add(7)
	delete(processes.processes, 7)
	p.Idle() // found gone
	p.Idle() // kept: its span waits
	p.Idle()
	cached(1)
	exportOne("second")
	waitExported(t, p, 4)
	p.Idle()
	cached(0)
	if st := p.Stats(); st.ProcessesRead != 2 || len(st.ByService) != 2 || st.ByService[0] != (ServiceSpans{Service: "first", Exported: 2}) || st.ByService[1] != (ServiceSpans{Service: "second", Exported: 2}) {
		t.Errorf("stats %+v, want 2 processes read, and 2 spans of each service", st)
	}
	close(sink.gate)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func waitExported(t *testing.T, p *Pipeline, n uint64) {
	t.Helper()
	for p.Stats().Exported < n || p.exported.Load() < n {
		select {
		case <-p.done:
			t.Fatalf("the pipeline ended with %d spans exported, want %d", p.Stats().Exported, n)
		default:
		}
	}
}

// Without a process source, every span has the host's resource, as before resources per process.
func TestOneResourceWithoutProcesses(t *testing.T) {
	events := spantest.VariedEvents(40)
	runPipeline(t, testProbes(), events, 40, func(b *Batch) error {
		request, err := b.Decode()
		if err != nil {
			return err
		}
		if len(request.ResourceSpans) != 1 || len(request.ResourceSpans[0].ScopeSpans[0].Spans) != len(events) {
			t.Errorf("%d resources for %d processes' spans, want one", len(request.ResourceSpans), len(events))
		}
		return nil
	})
}
