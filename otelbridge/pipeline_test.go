package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/processinfo"
)

// exportedSpan is what a recordingSink keeps of one span: a deep copy, since batches are reused,
// and the attributes a test asks about.
type exportedSpan struct {
	span *tracepb.Span
	ret  int64
	comm string
}

// recordingSink copies every batch it receives. block, if set, holds each Export until it is
// closed or the export's context ends; fail, if set, is returned by every Export.
type recordingSink struct {
	mu        sync.Mutex
	batches   [][]exportedSpan
	payloads  [][]*tracepb.ResourceSpans
	shutdowns int
	exported  chan int // receives each batch's size, if not nil
	block     chan struct{}
	fail      error
}

func (s *recordingSink) Export(ctx context.Context, b *Batch) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var batch []exportedSpan
	var payload []*tracepb.ResourceSpans
	request, err := b.Decode()
	if err != nil {
		return err
	}
	for _, rs := range request.ResourceSpans {
		payload = append(payload, proto.Clone(rs).(*tracepb.ResourceSpans))
		for _, ss := range rs.ScopeSpans {
			for _, span := range ss.Spans {
				a := attrs(span)
				ret, _ := a[AttrReturnValue].(int64)
				comm, _ := a[AttrThreadName].(string)
				batch = append(batch, exportedSpan{span: proto.Clone(span).(*tracepb.Span), ret: ret, comm: comm})
			}
		}
	}
	if len(batch) != b.Len() {
		return fmt.Errorf("a batch of %d spans holds %d", b.Len(), len(batch))
	}
	s.mu.Lock()
	s.batches = append(s.batches, batch)
	s.payloads = append(s.payloads, payload)
	s.mu.Unlock()
	if s.exported != nil {
		s.exported <- b.Len()
	}
	return s.fail
}

func (s *recordingSink) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdowns++
	return nil
}

func (s *recordingSink) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

func (s *recordingSink) all() []exportedSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []exportedSpan
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

// testProbes is a probe table: index 0 unused, 1 a syscall, 2 a uprobe.
func testProbes() []ProbeInfo {
	return []ProbeInfo{{}, NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet()), NewProbeInfo(spantest.UprobeTarget, errno.DefaultSet())}
}

func testResource() *resourcepb.Resource {
	return &resourcepb.Resource{Attributes: []*commonpb.KeyValue{stringKeyValue("service.name", "pipeline-test"), stringKeyValue("host.name", "test-host")}}
}

// fakeProcesses is a ProcessSource of the processes a test adds; a pid without one is gone.
type fakeProcesses struct {
	processes map[uint32]processinfo.Process
	reads     map[uint32]int
	sweeps    int
}

func newFakeProcesses() *fakeProcesses {
	return &fakeProcesses{processes: map[uint32]processinfo.Process{}, reads: map[uint32]int{}}
}

func (f *fakeProcesses) add(p processinfo.Process) { f.processes[p.PID] = p }

func (f *fakeProcesses) Read(pid uint32) (processinfo.Process, error) {
	f.reads[pid]++
	p, ok := f.processes[pid]
	if !ok {
		return processinfo.Process{}, processinfo.ErrGone
	}
	return p, nil
}

func (f *fakeProcesses) StartTicks(pid uint32) (uint64, error) {
	p, ok := f.processes[pid]
	if !ok {
		return 0, processinfo.ErrGone
	}
	return p.StartTicks, nil
}

func (f *fakeProcesses) Sweep() { f.sweeps++ }

// discardSink drops every batch, as kretspan's none exporter does.
type discardSink struct{}

func (discardSink) Export(context.Context, *Batch) error { return nil }
func (discardSink) Shutdown(context.Context) error       { return nil }

func newTestPipeline(t *testing.T, sink Sink, opts ...Option) *Pipeline {
	t.Helper()
	p, err := NewPipeline(sink, testProbes(), testResource(), fixedClock(0), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func closePipeline(t *testing.T, p *Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func checkAccounting(t *testing.T, s Stats) {
	t.Helper()
	if s.Received != s.Exported+s.DroppedQueue+s.ExportFailed {
		t.Errorf("received %d != exported %d + dropped %d + failed %d", s.Received, s.Exported, s.DroppedQueue, s.ExportFailed)
	}
}

func TestPipelineBatchesBySize(t *testing.T) {
	sink := &recordingSink{}
	p := newTestPipeline(t, sink, WithBatchSize(4), WithBatchTimeout(time.Hour))
	for i := range 10 {
		e := spantest.Event(1, int64(i), "cat")
		e.SpanId = uint64(i + 1)
		p.Add(&e)
		e.SpanId = 0xdead // the pipeline must have copied the event
	}
	closePipeline(t, p)
	if got := sink.sizes(); fmt.Sprint(got) != "[4 4 2]" {
		t.Errorf("batch sizes %v, want [4 4 2]", got)
	}
	spans := sink.all()
	for i, s := range spans {
		if s.ret != int64(i) || s.span.SpanId[7] != byte(i+1) {
			t.Errorf("span %d: ret %d span id %x (order or reuse broken)", i, s.ret, s.span.SpanId)
		}
		if s.comm != "cat" || s.span.Name != "openat" {
			t.Errorf("span %d: comm %q name %q", i, s.comm, s.span.Name)
		}
	}
	st := p.Stats()
	if st.Received != 10 || st.Exported != 10 || st.DroppedQueue != 0 || st.ExportFailed != 0 {
		t.Errorf("stats %+v", st)
	}
	if sink.shutdowns != 1 {
		t.Errorf("sink shut down %d times", sink.shutdowns)
	}
	// Close is idempotent.
	if err := p.Close(context.Background()); err != nil || sink.shutdowns != 1 {
		t.Errorf("second Close: %v, %d shutdowns", err, sink.shutdowns)
	}
	// The payload carries resource and scope.
	payload := sink.payloads[0]
	if len(payload) != 1 || len(payload[0].ScopeSpans) != 1 || len(payload[0].ScopeSpans[0].Spans) != 4 {
		t.Fatalf("payload %v", payload)
	}
	if payload[0].ScopeSpans[0].Scope.GetName() != ScopeName || payload[0].ScopeSpans[0].Scope.GetVersion() != Version {
		t.Errorf("scope %v", payload[0].ScopeSpans[0].Scope)
	}
	if payload[0].Resource.Attributes[0].Value.GetStringValue() != "pipeline-test" {
		t.Errorf("resource %v", payload[0].Resource)
	}
}

func TestPipelineFlushesOnIdleAfterTimeout(t *testing.T) {
	sink := &recordingSink{exported: make(chan int, 10)}
	p := newTestPipeline(t, sink, WithBatchSize(100), WithBatchTimeout(30*time.Millisecond))
	e := spantest.Event(1, 0, "cat")
	p.Add(&e)
	p.Add(&e)
	p.Idle() // too early: nothing goes
	select {
	case n := <-sink.exported:
		t.Fatalf("batch of %d exported before the timeout", n)
	case <-time.After(50 * time.Millisecond):
	}
	p.Idle() // now older than the timeout
	select {
	case n := <-sink.exported:
		if n != 2 {
			t.Errorf("flushed %d spans, want 2", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Idle did not flush a batch older than the timeout")
	}
	// The timeout counts from a batch's first span: a new batch is not flushed at once.
	p.Add(&e)
	p.Idle()
	select {
	case n := <-sink.exported:
		t.Fatalf("fresh batch of %d flushed at once", n)
	case <-time.After(10 * time.Millisecond):
	}
	closePipeline(t, p)
	if got := sink.sizes(); fmt.Sprint(got) != "[2 1]" {
		t.Errorf("batch sizes %v", got)
	}
}

func TestPipelineDropsWhenQueueFull(t *testing.T) {
	sink := &recordingSink{block: make(chan struct{})}
	p := newTestPipeline(t, sink, WithBatchSize(2), WithQueueBatches(2), WithBatchTimeout(time.Hour))
	e := spantest.Event(1, 0, "cat")
	// Two batches of two fill the queue (one exporting, one queued); every later event is dropped.
	for range 11 {
		p.Add(&e)
	}
	if st := p.Stats(); st.Received != 11 || st.DroppedQueue != 7 {
		t.Errorf("while blocked: received %d dropped %d, want 11 and 7", st.Received, st.DroppedQueue)
	}
	close(sink.block)
	closePipeline(t, p)
	st := p.Stats()
	if st.Exported != 4 || st.DroppedQueue != 7 || st.ExportFailed != 0 {
		t.Errorf("stats %+v", st)
	}
	checkAccounting(t, st)
	// Latency is recorded for every event received, dropped or not.
	if h := st.LatencyByProbe[1]; h == nil || h.Count() != 11 {
		t.Errorf("latency histogram %v", h)
	}
}

func TestPipelineAccountingUnderLoad(t *testing.T) {
	sink := &recordingSink{}
	p := newTestPipeline(t, sink, WithBatchSize(3), WithQueueBatches(1), WithBatchTimeout(time.Millisecond))
	e := spantest.Event(1, 0, "cat")
	for i := range 2000 {
		e.ProbeId = uint32(1 + i%2)
		p.Add(&e)
		if i%7 == 0 {
			p.Idle()
		}
	}
	closePipeline(t, p)
	st := p.Stats()
	if st.Received != 2000 {
		t.Errorf("received %d", st.Received)
	}
	checkAccounting(t, st)
	if got := uint64(len(sink.all())); got != st.Exported {
		t.Errorf("sink got %d spans, stats say %d exported", got, st.Exported)
	}
	if st.ExportedByID[1]+st.ExportedByID[2] != st.Exported || st.ExportedByID[0] != 0 {
		t.Errorf("ExportedByID %v, exported %d", st.ExportedByID, st.Exported)
	}
}

func TestPipelineCloseTimeoutCountsQueuedAsFailed(t *testing.T) {
	sink := &recordingSink{block: make(chan struct{})}
	defer close(sink.block)
	p := newTestPipeline(t, sink, WithBatchSize(2), WithQueueBatches(2), WithBatchTimeout(time.Hour))
	e := spantest.Event(1, 0, "cat")
	for range 5 {
		p.Add(&e)
	}
	gaveUp := errors.New("shutdown timeout passed")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 50*time.Millisecond, gaveUp)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, gaveUp) {
		t.Fatalf("Close with a stuck sink = %v, want an error naming why it gave up", err)
	}
	s := p.Stats()
	checkAccounting(t, s)
	// The batch in export and the queued one: the fifth span found no free batch.
	if s.ExportFailed != 4 || s.DroppedQueue != 1 {
		t.Errorf("failed %d, dropped %d; want 4 and 1", s.ExportFailed, s.DroppedQueue)
	}
	// The export in progress is cancelled, not left running.
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Error("the export in progress did not end after Close gave up")
	}
}

func TestPipelineFailingSink(t *testing.T) {
	errDown := errors.New("collector down")
	sink := &recordingSink{fail: errDown}
	p := newTestPipeline(t, sink, WithBatchSize(4))
	if p.LastError() != nil {
		t.Errorf("LastError before any export: %v", p.LastError())
	}
	e := spantest.Event(2, 0, "app")
	for range 6 {
		p.Add(&e)
	}
	closePipeline(t, p)
	st := p.Stats()
	if st.ExportFailed != 6 || st.Exported != 0 || st.ExportedByID[2] != 0 {
		t.Errorf("stats %+v", st)
	}
	checkAccounting(t, st)
	if !errors.Is(p.LastError(), errDown) {
		t.Errorf("LastError = %v, want %v", p.LastError(), errDown)
	}
}

func TestPipelineExportedByID(t *testing.T) {
	sink := &recordingSink{}
	p := newTestPipeline(t, sink, WithBatchSize(3))
	for _, id := range []uint32{1, 2, 2, 1, 2, 0, 3, 99} {
		e := spantest.Event(id, 0, "cat")
		p.Add(&e)
	}
	closePipeline(t, p)
	st := p.Stats()
	if fmt.Sprint(st.ExportedByID) != "[0 2 3]" {
		t.Errorf("ExportedByID %v, want [0 2 3]", st.ExportedByID)
	}
	// Unknown probe ids are counted, never silent.
	if st.Received != 8 || st.Exported != 5 || st.DroppedQueue != 3 {
		t.Errorf("stats %+v", st)
	}
	checkAccounting(t, st)
	if st.LatencyByProbe[1].Count() != 2 || st.LatencyByProbe[2].Count() != 3 || st.LatencyByProbe[0] != nil {
		t.Errorf("latency counts wrong")
	}
	names := map[string]int{}
	for _, s := range sink.all() {
		names[s.span.Name]++
	}
	if names["openat"] != 2 || names["main.handle"] != 3 {
		t.Errorf("span names %v", names)
	}
}

func TestNewPipelineRejectsNonPositiveSizes(t *testing.T) {
	for _, opt := range []Option{
		WithBatchSize(0), WithBatchSize(-1), WithQueueBatches(0), WithQueueBatches(-5), WithBatchTimeout(0), WithBatchTimeout(-time.Second),
	} {
		p, err := NewPipeline(discardSink{}, testProbes(), testResource(), fixedClock(0), opt)
		if err == nil || p != nil {
			t.Errorf("NewPipeline with %+v: %v, %v", newConfig([]Option{opt}), p, err)
		} else if !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("error %q", err)
		}
	}
}

// steadyPipeline is a pipeline with a large batch, already warmed up: the probe's histogram
// exists and the event's comm is interned.
func steadyPipeline(tb testing.TB) (*Pipeline, *bpf.Event) {
	p, err := NewPipeline(discardSink{}, testProbes(), &resourcepb.Resource{}, NewWallClock(SystemClocks()), WithBatchSize(512), WithQueueBatches(8))
	if err != nil {
		tb.Fatal(err)
	}
	e := spantest.Event(1, 42, "bench")
	for range 2048 {
		p.Add(&e)
	}
	return p, &e
}

func TestPipelineAddDoesNotAllocate(t *testing.T) {
	// A queue deep enough that no event is dropped: a dropped Add builds no span, and would
	// make the measurement pass vacuously.
	const runs = 10_000
	p, err := NewPipeline(discardSink{}, testProbes(), &resourcepb.Resource{}, NewWallClock(SystemClocks()),
		WithBatchSize(512), WithQueueBatches(3*runs/512+8))
	if err != nil {
		t.Fatal(err)
	}
	defer closePipeline(t, p)
	e := spantest.Event(1, 42, "bench")
	uprobeEvent := spantest.Event(2, -2, "bench")
	for range 1024 { // warm up: histograms exist, comm interned, batches cycled
		p.Add(&e)
		p.Add(&uprobeEvent)
	}
	if n := testing.AllocsPerRun(runs, func() { p.Add(&e) }); n != 0 {
		t.Errorf("steady-state Add allocates %v times per call", n)
	}
	if n := testing.AllocsPerRun(runs, func() { p.Add(&uprobeEvent) }); n != 0 {
		t.Errorf("steady-state Add of a uprobe event allocates %v times per call", n)
	}
	errnoEvent := spantest.Event(1, -2, "bench")
	if n := testing.AllocsPerRun(runs, func() { p.Add(&errnoEvent) }); n != 0 {
		t.Errorf("steady-state Add of a failed call allocates %v times per call", n)
	}
	if st := p.Stats(); st.DroppedQueue != 0 {
		t.Fatalf("%d events dropped: the allocation count measured the drop path", st.DroppedQueue)
	}
}

func BenchmarkAppendSpan(b *testing.B) {
	info := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	e := spantest.Event(1, 42, "bench")
	clock := fixedClock(0)
	var buf []byte
	comm := threadNameAttribute("bench")
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendSpan(buf[:0], &e, &info, clock, comm, "")
	}
}

func BenchmarkPipelineAdd(b *testing.B) {
	p, e := steadyPipeline(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.Add(e)
	}
	b.StopTimer()
	if err := p.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	// Add is cheaper for an event dropped on a full queue: report how many were.
	b.ReportMetric(float64(p.Stats().DroppedQueue)/float64(b.N), "drops/op")
}

func BenchmarkPipelineAddErrno(b *testing.B) {
	p, _ := steadyPipeline(b)
	e := spantest.Event(1, -2, "bench")
	b.ReportAllocs()
	for b.Loop() {
		p.Add(&e)
	}
	b.StopTimer()
	if err := p.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	// Add is cheaper for an event dropped on a full queue: report how many were.
	b.ReportMetric(float64(p.Stats().DroppedQueue)/float64(b.N), "drops/op")
}
