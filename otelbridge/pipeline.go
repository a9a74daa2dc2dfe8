package otelbridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/otlpwire"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/summary"
)

// Batch is a set of spans handed to a Sink in one export: an OTLP export request, already
// encoded, and how many spans each probe contributed, for the pipeline's accounting.
//
// The spans are written in the order they come, each process's into its segment: the request
// holds one ResourceSpans per segment, with the process's resource, in the order the processes
// first came, and their spans in order. A run is spans of one segment that came one after
// another; the request is the segments' framing and their runs, in pieces, with no span copied.
type Batch struct {
	spans    []byte // each a span field of its segment's ScopeSpans
	n        int
	fill     uint64    // which filling of a batch this is, counting from 1
	segments []segment // one per process
	runs     []run
	scope    []byte    // the ScopeSpans' scope field, the same for every segment
	head     []byte    // each segment's framing up to its spans, written by Request
	request  [][]byte  // what Request returns
	byProbe  []uint64  // spans by probe id
	opened   time.Time // when the first span went in
}

// segment is one process's spans in a batch.
type segment struct {
	resource          []byte // its ResourceSpans' resource field
	service           *serviceSpans
	n                 int   // spans
	firstRun, lastRun int32 // its runs, linked by run.next
	size              int   // bytes of its spans, and where its framing is in head: set by Request
	headStart         int
	headEnd           int
}

// run is spans of one segment that came one after another: they end where the next run
// begins, or at the end of the batch.
type run struct {
	segment, next int32 // next: the segment's next run, -1 for none
	start         int
}

// Len is the number of spans in the batch.
func (b *Batch) Len() int { return b.n }

// Request is the batch as the encoding of an OTLP ExportTraceServiceRequest, in pieces to be
// sent one after the other; it is valid until the Sink's Export returns. The bytes are those
// protobuf-go's deterministic Marshal writes for the same request.
func (b *Batch) Request() [][]byte {
	for i := range b.segments {
		b.segments[i].size = 0
	}
	for i, r := range b.runs {
		b.segments[r.segment].size += b.runEnd(i) - r.start
	}
	head := b.head[:0]
	for i := range b.segments {
		s := &b.segments[i]
		scopeSpans := len(b.scope) + s.size
		resourceSpans := len(s.resource) + 1 + protowire.SizeBytes(scopeSpans)
		s.headStart = len(head)
		head = append(head, otlpwire.RequestResourceSpans)
		head = protowire.AppendVarint(head, uint64(resourceSpans))
		head = append(head, s.resource...)
		head = append(head, otlpwire.ResourceSpansScopeSpans)
		head = protowire.AppendVarint(head, uint64(scopeSpans))
		head = append(head, b.scope...)
		s.headEnd = len(head)
	}
	b.head = head
	request := b.request[:0]
	for i := range b.segments {
		s := &b.segments[i]
		request = append(request, head[s.headStart:s.headEnd])
		for r := s.firstRun; r >= 0; r = b.runs[r].next {
			request = append(request, b.spans[b.runs[r].start:b.runEnd(int(r))])
		}
	}
	b.request = request
	return request
}

func (b *Batch) runEnd(i int) int {
	if i+1 < len(b.runs) {
		return b.runs[i+1].start
	}
	return len(b.spans)
}

// add counts a span of process e, which is about to be written, in e's segment, starting the
// segment if it is e's first span in the batch, and a run if the last span was another process's.
func (b *Batch) add(e *processEntry) {
	if e.fill != b.fill {
		e.fill, e.segment = b.fill, int32(len(b.segments))
		b.segments = append(b.segments, segment{resource: e.resource, service: e.service, firstRun: -1, lastRun: -1})
	}
	s := &b.segments[e.segment]
	if last := len(b.runs) - 1; last < 0 || b.runs[last].segment != e.segment {
		r := int32(len(b.runs))
		b.runs = append(b.runs, run{segment: e.segment, next: -1, start: len(b.spans)})
		if s.lastRun >= 0 {
			b.runs[s.lastRun].next = r
		} else {
			s.firstRun = r
		}
		s.lastRun = r
	}
	s.n++
}

// reset empties the batch for its next filling.
func (b *Batch) reset() {
	b.spans, b.n = b.spans[:0], 0
	b.segments, b.runs = b.segments[:0], b.runs[:0]
	clear(b.byProbe)
}

// RequestSize is the length of Request's bytes.
func (b *Batch) RequestSize() int {
	n := 0
	for _, piece := range b.Request() {
		n += len(piece)
	}
	return n
}

// Decode decodes the batch's request, for exporters that read spans rather than send them.
func (b *Batch) Decode() (*collectortracepb.ExportTraceServiceRequest, error) {
	request := &collectortracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(slices.Concat(b.Request()...), request); err != nil {
		return nil, fmt.Errorf("decode the export request: %w", err)
	}
	return request, nil
}

// Sink receives batches of spans. Export is called from one goroutine at a time.
type Sink interface {
	Export(ctx context.Context, batch *Batch) error
	Shutdown(ctx context.Context) error
}

// Stats counts what happened to the events handed to a Pipeline.
type Stats struct {
	Received       uint64 // events read from the ring buffer
	Exported       uint64 // spans the sink accepted
	DroppedQueue   uint64 // lost because every batch was queued or in export
	ExportFailed   uint64 // spans in batches the sink rejected
	ExportedByID   []uint64
	LatencyByProbe []*summary.LatencyHistogram // durations of received events, by probe id
	ByService      []ServiceSpans              // exported and failed spans by service, busiest first
	// ProcessesRead counts the processes read at their first record; ProcessesCached is how
	// many are cached now: running, or exited with spans still to export.
	ProcessesRead, ProcessesCached uint64
}

// Pipeline turns events into spans, batches them and exports them through a Sink from its own
// goroutine. Add and Idle must be called from a single goroutine (the ring-buffer reader).
type Pipeline struct {
	cfg    config
	sink   Sink
	probes []ProbeInfo // by probe id
	clock  *WallClock
	comms  *commInterner
	scope  []byte // the ScopeSpans' scope field

	processes *processCache
	services  *serviceTable
	fills     uint64        // batches filled so far
	exported  atomic.Uint64 // the last filling whose export is over (batches are exported in order)

	free    chan *Batch // batches ready to fill; empty means the queue is full
	queue   chan *Batch
	current *Batch
	done    chan struct{}

	exportCtx    context.Context // cancelled when Close gives up waiting
	cancelExport context.CancelFunc

	received atomic.Uint64 // read by Stats from any goroutine, for a live status
	latency  []*summary.LatencyHistogram

	// The slowest span of each probe since the last TakeExemplars: slowest is the fast check,
	// exemplars (under exemplarMu) the span.
	slowest    []atomic.Uint64
	exemplarMu sync.Mutex
	exemplars  []Exemplar

	mu            sync.Mutex // guards the export accounting below
	droppedQueue  uint64
	exportedSpans uint64
	exportFailed  uint64
	exportedByID  []uint64
	abandoned     bool // Close timed out: what was still queued is counted as failed
	lastErr       error
	closeOnce     sync.Once
}

// NewPipeline starts a pipeline exporting through sink. probes is indexed by probe id (index 0
// unused); resource describes this host, and is every span's resource unless WithProcesses gives
// each process its own.
func NewPipeline(sink Sink, probes []ProbeInfo, resource *resourcepb.Resource, clock *WallClock, opts ...Option) (*Pipeline, error) {
	cfg := newConfig(opts)
	if cfg.batchSize < 1 || cfg.queueBatches < 1 || cfg.batchTimeout <= 0 {
		return nil, fmt.Errorf("batch size %d, queue %d batches, batch timeout %v: all must be positive", cfg.batchSize, cfg.queueBatches, cfg.batchTimeout)
	}
	p := &Pipeline{
		cfg:          cfg,
		sink:         sink,
		probes:       probes,
		clock:        clock,
		comms:        newCommInterner(),
		free:         make(chan *Batch, cfg.queueBatches),
		queue:        make(chan *Batch, cfg.queueBatches),
		done:         make(chan struct{}),
		exportedByID: make([]uint64, len(probes)),
		latency:      make([]*summary.LatencyHistogram, len(probes)),
		slowest:      make([]atomic.Uint64, len(probes)),
		exemplars:    make([]Exemplar, len(probes)),
	}
	p.exportCtx, p.cancelExport = context.WithCancel(context.Background())
	scope, err := encodeScope()
	if err != nil {
		return nil, err
	}
	p.scope = scope
	p.services = newServiceTable()
	if p.processes, err = newProcessCache(resource, cfg.processes, cfg.fixedServiceName, p.services); err != nil {
		return nil, err
	}
	for range cfg.queueBatches {
		p.free <- &Batch{spans: make([]byte, 0, cfg.batchSize*typicalSpanBytes), scope: scope, byProbe: make([]uint64, len(probes))}
	}
	go p.export()
	return p, nil
}

// typicalSpanBytes sizes a batch's buffer at first; it grows to what the spans need and keeps it.
const typicalSpanBytes = 256

// encodeScope is the ScopeSpans' scope field, encoded once per pipeline.
func encodeScope() ([]byte, error) {
	scope, err := proto.MarshalOptions{Deterministic: true}.Marshal(&commonpb.InstrumentationScope{Name: ScopeName, Version: Version})
	if err != nil {
		return nil, fmt.Errorf("encode the instrumentation scope: %w", err)
	}
	return otlpwire.AppendBytes(nil, otlpwire.ScopeSpansScope, scope), nil
}

// Add converts one event into a span. The event may be reused after Add returns.
func (p *Pipeline) Add(event *bpf.Event) {
	p.received.Add(1)
	id := int(event.ProbeId)
	if id <= 0 || id >= len(p.probes) {
		p.countDropped() // cannot happen with a consistent tracer; counted, never silent
		return
	}
	if p.latency[id] == nil {
		p.latency[id] = &summary.LatencyHistogram{}
	}
	p.latency[id].Record(event.EndNs - event.StartNs)
	if p.current == nil {
		select {
		case p.current = <-p.free:
			p.current.opened = time.Now()
			p.fills++
			p.current.fill = p.fills
		default:
			p.countDropped()
			return
		}
	}
	b := p.current
	b.add(p.processes.lookup(event))
	var end uint64
	b.spans, end = appendSpan(b.spans, event, &p.probes[id], p.clock, p.comms.intern(&event.Comm), p.blockedStack(event))
	b.n++
	b.byProbe[id]++
	if duration := event.EndNs - event.StartNs; duration > p.slowest[id].Load() {
		p.recordExemplar(id, duration, event, end)
	}
	if b.n == p.cfg.batchSize {
		p.send()
	}
}

// Idle flushes a partly filled batch once it is older than the batch timeout, and keeps the
// wall clock in step. Call it when no event is waiting.
func (p *Pipeline) Idle() {
	p.clock.MaybeResync()
	if p.current != nil && time.Since(p.current.opened) >= p.cfg.batchTimeout {
		p.send()
	}
	p.processes.sweep(time.Now(), p.exported.Load())
}

func (p *Pipeline) send() {
	p.queue <- p.current // never blocks: the queue holds every batch there is
	p.current = nil
	p.clock.MaybeResync()
}

// Exemplar is a probe's slowest span in an interval: metrics point at it.
type Exemplar struct {
	DurationNs  uint64 // 0: none
	EndUnixNano uint64
	TraceID     [16]byte
	SpanID      [8]byte
}

func (p *Pipeline) recordExemplar(id int, duration uint64, event *bpf.Event, endUnixNano uint64) {
	p.exemplarMu.Lock()
	defer p.exemplarMu.Unlock()
	if duration <= p.exemplars[id].DurationNs {
		return
	}
	e := &p.exemplars[id]
	e.DurationNs, e.EndUnixNano = duration, endUnixNano
	e.TraceID = event.TraceId
	binary.BigEndian.PutUint64(e.SpanID[:], event.SpanId)
	p.slowest[id].Store(duration)
}

// TakeExemplars returns each probe's slowest span since the last call (indexed by probe id) and
// starts a new interval.
func (p *Pipeline) TakeExemplars() []Exemplar {
	p.exemplarMu.Lock()
	defer p.exemplarMu.Unlock()
	taken := slices.Clone(p.exemplars)
	clear(p.exemplars)
	for i := range p.slowest {
		p.slowest[i].Store(0)
	}
	return taken
}

func (p *Pipeline) countDropped() {
	p.mu.Lock()
	p.droppedQueue++
	p.mu.Unlock()
}

func (p *Pipeline) export() {
	defer close(p.done)
	for b := range p.queue {
		// Each export is bounded by its exporter (OTEL_EXPORTER_OTLP_TIMEOUT), and the last ones
		// by Close: a timeout of the pipeline's own would be a second owner, and a context and a
		// timer allocated per batch.
		err := p.exportCtx.Err() // after Close gave up, what is left is not sent
		if err == nil {
			err = p.sink.Export(p.exportCtx, b)
		}
		p.account(b, err)
		p.exported.Store(b.fill)
		b.reset()
		p.free <- b
	}
}

func (p *Pipeline) account(b *Batch, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.abandoned {
		return // Close has counted this batch as failed already
	}
	p.services.account(b.segments, err != nil)
	if err != nil {
		p.exportFailed += uint64(b.Len())
		p.lastErr = err
		return
	}
	p.exportedSpans += uint64(b.Len())
	for id, n := range b.byProbe {
		p.exportedByID[id] += n
	}
}

// Close exports what is batched and queued, then shuts the sink down. When ctx ends first, the
// export in progress is cancelled and every span not yet exported (in that export, queued or
// batched) is counted as failed; the error says why ctx ended (its cause).
func (p *Pipeline) Close(ctx context.Context) error {
	var err error
	p.closeOnce.Do(func() {
		if p.current != nil {
			p.send()
		}
		close(p.queue)
		select {
		case <-p.done:
		case <-ctx.Done():
			p.cancelExport()
			p.mu.Lock()
			p.abandoned = true
			unaccounted := p.received.Load() - p.droppedQueue - p.exportedSpans - p.exportFailed
			p.exportFailed += unaccounted
			p.mu.Unlock()
			err = fmt.Errorf("export did not finish, %d spans not exported: %w", unaccounted, context.Cause(ctx))
		}
		// The sink still closes its connection with ctx ended; that it ended is said above.
		if shutdownErr := p.sink.Shutdown(ctx); shutdownErr != nil && (ctx.Err() == nil || !errors.Is(shutdownErr, ctx.Err())) {
			err = errors.Join(err, shutdownErr)
		}
	})
	return err
}

// LastError is the most recent export error, or nil.
func (p *Pipeline) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Stats returns the counts so far. LatencyByProbe is owned by the goroutine that calls Add: read
// it from there, or after Close.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{
		Received:        p.received.Load(),
		Exported:        p.exportedSpans,
		DroppedQueue:    p.droppedQueue,
		ExportFailed:    p.exportFailed,
		ExportedByID:    slices.Clone(p.exportedByID),
		LatencyByProbe:  p.latency,
		ByService:       p.services.snapshot(),
		ProcessesRead:   p.processes.read.Load(),
		ProcessesCached: p.processes.count.Load(),
	}
}
