package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

// encodeSink takes each batch's OTLP request, as the OTLP exporters do before sending it, and
// counts it: what the pipeline costs before the network.
type encodeSink struct {
	spans, bytes atomic.Uint64
	exported     chan struct{} // signalled after each export
}

func (s *encodeSink) Export(_ context.Context, b *otelbridge.Batch) error {
	s.bytes.Add(uint64(b.RequestSize()))
	s.spans.Add(uint64(b.Len()))
	select {
	case s.exported <- struct{}{}:
	default:
	}
	return nil
}

func (s *encodeSink) Shutdown(context.Context) error { return nil }

// inProcessBatch is the in-process benchmark's batch size: kretspan's default.
const inProcessBatch = otelbridge.DefaultBatchSize

// InProcessResult is the in-process benchmark's result.
type InProcessResult struct {
	N                int
	WallNsPerSpan    float64 // elapsed time per span
	CPUNsPerSpan     float64 // this process's user+system CPU per span (both goroutines, GC)
	AllocsPerSpan    float64 // heap allocations per span (both goroutines)
	BytesPerSpan     float64 // OTLP protobuf bytes per span
	DroppedQueueFull uint64
	Err              error
}

// MeasureInProcess measures kretspan's user-space work for n spans of the encoder row's varied
// records, so that its cost compares with proto.Marshal's of the same spans: decode a
// ring-buffer record (bpf.DecodeEvent), build and encode the span into its batch's OTLP request
// (otelbridge.Pipeline.Add), and take the request (Batch.RequestSize) as an OTLP exporter does
// before sending it. Sending is left out: the end-to-end rows include it. Add and the export
// goroutine overlap as in kretspan, but Add waits whenever 4 batches are queued, so no span is
// dropped.
func MeasureInProcess(n int) InProcessResult {
	const batch = inProcessBatch
	res := InProcessResult{N: n}
	resource, err := otelbridge.NewResource(context.Background())
	if err != nil {
		res.Err = err
		return res
	}
	sink := &encodeSink{exported: make(chan struct{}, 1)}
	p, err := otelbridge.NewPipeline(sink, benchProbes(), resource, otelbridge.NewWallClock(otelbridge.SystemClocks()),
		otelbridge.WithBatchSize(batch), otelbridge.WithQueueBatches(8))
	if err != nil {
		res.Err = err
		return res
	}
	// The encoder row's records, as the kernel writes them into the ring buffer: 8-byte aligned.
	events := spantest.VariedEvents(encoderBatch)
	words := (bpf.EventSize + 7) / 8
	raw := make([]uint64, len(events)*words)
	records := make([][]byte, len(events))
	for i := range events {
		records[i] = unsafe.Slice((*byte)(unsafe.Pointer(&raw[i*words])), bpf.EventSize)
		e, err := bpf.DecodeEvent(records[i])
		if err != nil {
			res.Err = err
			return res
		}
		*e = events[i]
	}

	add := func(n int, base uint64) {
		for i := range n {
			e, _ := bpf.DecodeEvent(records[i%len(records)])
			p.Add(e)
			if i%(4*batch) == 4*batch-1 {
				for sink.spans.Load() < base+uint64(i+1) {
					<-sink.exported
				}
			}
		}
	}
	add(8*batch, 0) // warm up: histograms, interned comms, every batch used once
	spans0, bytes0 := sink.spans.Load(), sink.bytes.Load()
	dropped0 := p.Stats().DroppedQueue

	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := selfCPU()
	start := time.Now()
	add(n, spans0)
	if err := p.Close(context.Background()); err != nil {
		res.Err = err
		return res
	}
	res.WallNsPerSpan = float64(time.Since(start).Nanoseconds()) / float64(n)
	res.CPUNsPerSpan = float64((selfCPU() - cpu0).Nanoseconds()) / float64(n)
	runtime.ReadMemStats(&ms1)
	res.AllocsPerSpan = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
	res.BytesPerSpan = float64(sink.bytes.Load()-bytes0) / float64(n)
	res.DroppedQueueFull = p.Stats().DroppedQueue - dropped0
	if got := sink.spans.Load() - spans0; got != uint64(n) {
		res.Err = fmt.Errorf("encoded %d spans of %d", got, n)
	}
	return res
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
