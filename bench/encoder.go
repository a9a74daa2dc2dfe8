package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
	"github.com/kretspan/kretspan/processinfo"
)

// encoderBatch is the encoder row's batch: the size at which the encoder's target is set.
const encoderBatch = 512

// EncoderResult compares otelbridge.Pipeline.Add (span building and encoding into the batch's
// OTLP request) with protobuf-go's proto.Marshal of the same request, taking turns in one
// process: absolute times differ between machines, the ratio much less.
type EncoderResult struct {
	Rounds, Batches  int       // measured rounds, batches of encoderBatch spans in each
	AddNsPerSpan     []float64 // per round, wall time
	MarshalNsPerSpan []float64 // per round, wall time
	// Pipeline.Add of the same spans from EncoderProcesses processes, each with its resource,
	// per round, wall time.
	AddProcessesNsPerSpan []float64
	BytesPerSpan          float64 // the request's, the same from both
	Err                   error
}

// Add is the median ns per span of Pipeline.Add.
func (r EncoderResult) Add() float64 { return median(r.AddNsPerSpan) }

// Marshal is the median ns per span of proto.Marshal.
func (r EncoderResult) Marshal() float64 { return median(r.MarshalNsPerSpan) }

// AddProcesses is the median ns per span of Pipeline.Add with a resource per process.
func (r EncoderResult) AddProcesses() float64 { return median(r.AddProcessesNsPerSpan) }

// EncoderProcesses is how many processes' spans the encoder row's batches mix, in the variant
// with a resource per process; they take turns span by span, the most segments a batch can have
// for them.
const EncoderProcesses = 100

// benchProcesses is a ProcessSource of EncoderProcesses running processes, from pid firstPID.
type benchProcesses struct{}

const firstPID = 1000

func (benchProcesses) Read(pid uint32) (processinfo.Process, error) {
	return processinfo.Process{PID: pid, ParentPID: 1, StartTicks: uint64(pid) * 7, ExecutableName: fmt.Sprint("app", pid),
		ExecutablePath: fmt.Sprint("/usr/local/bin/app", pid), Owner: "nobody", ServiceName: fmt.Sprint("service-", pid%10),
		ContainerID: fmt.Sprintf("%064x", pid), PodUID: fmt.Sprintf("00000000-0000-0000-0000-%012x", pid)}, nil
}

func (benchProcesses) StartTicks(pid uint32) (uint64, error) { return uint64(pid) * 7, nil }

func (benchProcesses) Sweep() {}

// benchProbes are the spans' probes, by probe id: getppid as kretspan traces it, and the
// workload's function under a uprobe.
func benchProbes() []otelbridge.ProbeInfo {
	return []otelbridge.ProbeInfo{{},
		otelbridge.NewProbeInfo(probe.Target{ID: 1, Kind: probe.KindSyscall, Name: "getppid", ReturnsErrno: true}, errno.DefaultSet()),
		otelbridge.NewProbeInfo(probe.Target{ID: 2, Kind: probe.KindUprobe, Name: benchFunc, Binary: "/usr/local/bin/loop"}, errno.DefaultSet()),
	}
}

// MeasureEncoder times, in rounds, `batches` batches of the same encoderBatch varied events
// through Pipeline.Add, then proto.Marshal of that batch's request as many times. The sink only
// takes the request's size, and the queue holds a whole round, so nothing is dropped and Add
// never waits for an export. Each timed part starts after a garbage collection, so that neither
// pays for the other's garbage.
func MeasureEncoder(rounds, batches int) EncoderResult {
	res := EncoderResult{Rounds: rounds, Batches: batches}
	events := spantest.VariedEvents(encoderBatch)
	resource, err := otelbridge.NewResource(context.Background())
	if err != nil {
		res.Err = err
		return res
	}
	clock := otelbridge.NewWallClock(otelbridge.SystemClocks())
	newPipeline := func(sink otelbridge.Sink, queue int, opts ...otelbridge.Option) (*otelbridge.Pipeline, error) {
		return otelbridge.NewPipeline(sink, benchProbes(), resource, clock,
			append([]otelbridge.Option{otelbridge.WithBatchSize(encoderBatch), otelbridge.WithQueueBatches(queue)}, opts...)...)
	}
	processEvents := slices.Clone(events)
	for i := range processEvents {
		processEvents[i].Pid = firstPID + uint32(i%EncoderProcesses)
	}

	// The request as protobuf-go structs, decoded from one batch of a pipeline of its own.
	var request *collectortracepb.ExportTraceServiceRequest
	decoder, err := newPipeline(sinkFunc(func(b *otelbridge.Batch) (err error) {
		request, err = b.Decode()
		return err
	}), 1)
	if err != nil {
		res.Err = err
		return res
	}
	for i := range events {
		decoder.Add(&events[i])
	}
	if err := decoder.Close(context.Background()); err != nil {
		res.Err = err
		return res
	}
	if request == nil {
		res.Err = fmt.Errorf("decode a batch: %v", decoder.LastError())
		return res
	}

	sink := &encodeSink{exported: make(chan struct{}, 1)}
	p, err := newPipeline(sink, batches+1) // +1: the last batch of a round may not be back yet
	if err != nil {
		res.Err = err
		return res
	}
	processSink := &encodeSink{exported: make(chan struct{}, 1)}
	pProcesses, err := newPipeline(processSink, batches+1, otelbridge.WithProcesses(benchProcesses{}, false))
	if err != nil {
		res.Err = err
		return res
	}
	spans := uint64(batches * encoderBatch)
	size := 0
	timeAdd := func(p *otelbridge.Pipeline, sink *encodeSink, events []bpf.Event, round int) time.Duration {
		runtime.GC()
		start := time.Now()
		for range batches {
			for i := range events {
				p.Add(&events[i])
			}
		}
		add := time.Since(start)
		for sink.spans.Load() < uint64(round+1)*spans {
			<-sink.exported
		}
		return add
	}
	for round := range rounds + 1 { // round 0 warms up: every batch grows to its size once
		add := timeAdd(p, sink, events, round)
		addProcesses := timeAdd(pProcesses, processSink, processEvents, round)

		runtime.GC()
		start := time.Now()
		for range batches {
			data, err := proto.Marshal(request)
			if err != nil {
				res.Err = err
				return res
			}
			size = len(data)
		}
		marshal := time.Since(start)
		if round > 0 {
			res.AddNsPerSpan = append(res.AddNsPerSpan, float64(add.Nanoseconds())/float64(spans))
			res.MarshalNsPerSpan = append(res.MarshalNsPerSpan, float64(marshal.Nanoseconds())/float64(spans))
			res.AddProcessesNsPerSpan = append(res.AddProcessesNsPerSpan, float64(addProcesses.Nanoseconds())/float64(spans))
		}
	}
	if err := errors.Join(p.Close(context.Background()), pProcesses.Close(context.Background())); err != nil {
		res.Err = err
		return res
	}
	if st := pProcesses.Stats(); st.ProcessesRead != EncoderProcesses || st.Exported != uint64(rounds+1)*spans {
		res.Err = fmt.Errorf("with a resource per process: %d processes read, want %d; %d spans exported of %d", st.ProcessesRead, EncoderProcesses, st.Exported, uint64(rounds+1)*spans)
		return res
	}
	res.BytesPerSpan = float64(size) / encoderBatch
	if st := p.Stats(); st.DroppedQueue != 0 || st.Exported != uint64(rounds+1)*spans {
		res.Err = fmt.Errorf("pipeline exported %d spans and dropped %d of %d", st.Exported, st.DroppedQueue, uint64(rounds+1)*spans)
	} else if perBatch := sink.bytes.Load() / uint64((rounds+1)*batches); perBatch != uint64(size) {
		res.Err = fmt.Errorf("the pipeline's requests have %d bytes, proto.Marshal's %d: not the same request", perBatch, size)
	}
	return res
}

// sinkFunc is a Sink that hands each batch to a function.
type sinkFunc func(*otelbridge.Batch) error

func (f sinkFunc) Export(_ context.Context, b *otelbridge.Batch) error { return f(b) }
func (sinkFunc) Shutdown(context.Context) error                        { return nil }
