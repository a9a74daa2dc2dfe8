package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/exporter"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// encodeSink encodes each batch as the OTLP request kretspan sends, with the OTLP exporter's
// codec, and counts it.
type encodeSink struct {
	spans, bytes atomic.Uint64
	exported     chan struct{} // signalled after each export
}

func (s *encodeSink) Export(_ context.Context, b *otelbridge.Batch) error {
	data, err := exporter.TraceCodec{}.Marshal(&collectorpb.ExportTraceServiceRequest{ResourceSpans: b.ResourceSpans()})
	if err != nil {
		return err
	}
	s.bytes.Add(uint64(data.Len()))
	data.Free() // back to gRPC's buffer pool, as gRPC does once the request is written
	s.spans.Add(uint64(b.Len()))
	select {
	case s.exported <- struct{}{}:
	default:
	}
	return nil
}

func (s *encodeSink) Shutdown(context.Context) error { return nil }

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

// MeasureInProcess measures kretspan's user-space work for n spans: decode a ring-buffer record
// (bpf.DecodeEvent), build the span (otelbridge.Pipeline.Add) and encode the batch's OTLP request
// with exporter.TraceCodec, as the OTLP exporter's gRPC client does. The OTLP client's own work
// and sending are left out. Add and the export goroutine overlap as in kretspan, but Add waits
// whenever 4 batches are queued, so no span is dropped and every one is encoded.
func MeasureInProcess(n int) InProcessResult {
	const batch = 2048
	res := InProcessResult{N: n}
	target := probe.Target{ID: 1, Kind: probe.KindSyscall, Name: "getppid", ReturnsErrno: true}
	infos := []otelbridge.ProbeInfo{{}, otelbridge.NewProbeInfo(target, errno.DefaultSet())}
	resource, err := otelbridge.NewResource(context.Background())
	if err != nil {
		res.Err = err
		return res
	}
	sink := &encodeSink{exported: make(chan struct{}, 1)}
	p, err := otelbridge.NewPipeline(sink, infos, resource, otelbridge.NewWallClock(otelbridge.SystemClocks()),
		otelbridge.WithBatchSize(batch), otelbridge.WithQueueBatches(8))
	if err != nil {
		res.Err = err
		return res
	}
	// A ring-buffer record as the kernel writes it, in an 8-byte aligned buffer.
	raw := make([]uint64, (bpf.EventSize+7)/8)
	record := unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), bpf.EventSize)
	e, err := bpf.DecodeEvent(record)
	if err != nil {
		res.Err = err
		return res
	}
	*e = bpf.Event{SpanId: 1, StartNs: 1_000_000, EndNs: 1_000_180, Ret: 1, Pid: 4242, Tid: 4243, ProbeId: 1, Cpu: 1}
	e.TraceId[0] = 1
	copy(e.Comm[:], "loop")

	add := func(n int, base uint64) {
		for i := range n {
			e, _ := bpf.DecodeEvent(record)
			e.SpanId = uint64(i) + 1
			p.Add(e)
			if i%(4*batch) == 4*batch-1 {
				for sink.spans.Load() < base+uint64(i+1) {
					<-sink.exported
				}
			}
		}
	}
	add(8*batch, 0) // warm up: histograms, interned comm, every batch used once
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
