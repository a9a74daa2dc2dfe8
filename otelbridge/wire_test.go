package otelbridge

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otlpwire"
	"github.com/kretspan/kretspan/processinfo"
)

// buildSpan encodes the span for event as a Pipeline does, checks the bytes are protobuf-go's,
// and decodes them for the test to read.
func buildSpan(tb testing.TB, event *bpf.Event, info *ProbeInfo, clock *WallClock, comm string) *tracepb.Span {
	tb.Helper()
	return buildSpanWithStack(tb, event, info, clock, comm, "")
}

// buildSpanWithStack is buildSpan for an event whose longest block's stacks are named stack.
func buildSpanWithStack(tb testing.TB, event *bpf.Event, info *ProbeInfo, clock *WallClock, comm, stack string) *tracepb.Span {
	tb.Helper()
	field, _ := appendSpan(nil, event, info, clock, threadNameAttribute(comm), stack)
	num, typ, n := protowire.ConsumeTag(field)
	body, m := protowire.ConsumeBytes(field[max(n, 0):])
	if n < 0 || m < 0 || num != 2 || typ != protowire.BytesType || n+m != len(field) {
		tb.Fatalf("not one span field of ScopeSpans: %x", field)
	}
	span := &tracepb.Span{}
	if err := proto.Unmarshal(body, span); err != nil {
		tb.Fatalf("decode span: %v\n%x", err, body)
	}
	checkCanonical(tb, span, body)
	return span
}

// checkCanonical fails tb unless encoded is what protobuf-go's deterministic Marshal writes for m.
func checkCanonical(tb testing.TB, m proto.Message, encoded []byte) {
	tb.Helper()
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatalf("proto.Marshal: %v", err)
	}
	if !bytes.Equal(encoded, want) {
		at := 0
		for at < min(len(encoded), len(want)) && encoded[at] == want[at] {
			at++
		}
		tb.Fatalf("kretspan wrote %d bytes, protobuf-go %d; first difference at byte %d\ngot  %x\nwant %x", len(encoded), len(want), at, encoded, want)
	}
}

// threadNameAttribute is comm's thread.name attribute, as commInterner encodes it.
func threadNameAttribute(comm string) []byte {
	return otlpwire.AppendStringAttribute(nil, otlpwire.SpanAttribute, perCallKeys[threadName], comm)
}

// spanName is the name info gives its spans.
func spanName(tb testing.TB, info *ProbeInfo) string {
	event := spantest.Event(1, 0, "")
	return buildSpan(tb, &event, info, fixedClock(0), "").Name
}

func stringKeyValue(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

// runPipeline hands events to a Pipeline with batches of batchSize and the test resource, and
// each batch to export.
func runPipeline(tb testing.TB, probes []ProbeInfo, events []bpf.Event, batchSize int, export func(*Batch) error, opts ...Option) {
	tb.Helper()
	// A queue that holds every batch, so that none is dropped however slowly export runs.
	p, err := NewPipeline(sinkFunc(export), probes, testResource(), fixedClock(1_700_000_000_000_000_000),
		append([]Option{WithBatchSize(batchSize), WithQueueBatches(len(events)/batchSize + 1)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range events {
		p.Add(&events[i])
	}
	if err := p.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if st := p.Stats(); st.Exported != uint64(len(events)) {
		tb.Fatalf("exported %d spans of %d: %+v, last error %v", st.Exported, len(events), st, p.LastError())
	}
}

// sinkFunc is a Sink that hands each batch to a function.
type sinkFunc func(*Batch) error

func (f sinkFunc) Export(_ context.Context, b *Batch) error { return f(b) }
func (sinkFunc) Shutdown(context.Context) error             { return nil }

// Whole requests, as exporters send them, are protobuf-go's bytes: the framing, every span, and
// the request holds exactly the batch's spans.
func TestRequestEncodesLikeProtobuf(t *testing.T) {
	events := spantest.VariedEvents(100)
	batches, spans := 0, 0
	runPipeline(t, testProbes(), events, 16, func(b *Batch) error {
		batches++
		request, err := b.Decode()
		if err != nil {
			t.Fatal(err)
		}
		var encoded []byte
		for _, piece := range b.Request() {
			encoded = append(encoded, piece...)
		}
		if len(encoded) != b.RequestSize() {
			t.Errorf("RequestSize %d, request %d bytes", b.RequestSize(), len(encoded))
		}
		checkCanonical(t, request, encoded)
		rs := request.ResourceSpans
		if len(rs) != 1 || len(rs[0].ScopeSpans) != 1 || len(rs[0].ScopeSpans[0].Spans) != b.Len() {
			t.Fatalf("request shape %v, want one resource, one scope, %d spans", request, b.Len())
		}
		if !proto.Equal(rs[0].Resource, testResource()) || rs[0].ScopeSpans[0].Scope.GetName() != ScopeName {
			t.Errorf("resource %v scope %v", rs[0].Resource, rs[0].ScopeSpans[0].Scope)
		}
		for i, span := range rs[0].ScopeSpans[0].Spans {
			e := &events[spans+i]
			if span.SpanId[7] != byte(e.SpanId) || attrs(span)[AttrReturnValue] != e.Ret {
				t.Errorf("span %d is not event %d's: %v", spans+i, spans+i, span)
			}
		}
		spans += b.Len()
		return nil
	})
	if batches != 7 || spans != len(events) {
		t.Errorf("%d batches of %d spans, want 7 of %d", batches, spans, len(events))
	}
}

// With a resource per process, a request holds a ResourceSpans per process in the batch, in the
// order the processes first came, each with the process's resource and exactly its spans in
// order; the bytes are still protobuf-go's. The records' pids come in runs and interleave.
func TestRequestEncodesLikeProtobufWithResourcePerProcess(t *testing.T) {
	events := spantest.VariedEvents(300)
	for i := range events {
		events[i].Pid = uint32(100 + (i/3)%7) // runs of 3, 7 processes, one of them gone
	}
	processes := newFakeProcesses()
	for pid := uint32(100); pid < 106; pid++ {
		processes.add(processinfo.Process{PID: pid, ParentPID: 1, StartTicks: 5000 + uint64(pid), ExecutableName: fmt.Sprint("exe", pid),
			ExecutablePath: fmt.Sprint("/bin/exe", pid), Owner: "root", ContainerID: fmt.Sprint("c", pid), PodUID: fmt.Sprint("pod", pid)})
	}
	batches, spans := 0, 0
	runPipeline(t, testProbes(), events, 64, func(b *Batch) error {
		batches++
		request, err := b.Decode()
		if err != nil {
			t.Fatal(err)
		}
		checkCanonical(t, request, slices.Concat(b.Request()...))
		var order []uint32 // the batch's pids in the order they first came
		byPID := map[uint32][]*bpf.Event{}
		for i := spans; i < spans+b.Len(); i++ {
			e := &events[i]
			if byPID[e.Pid] == nil {
				order = append(order, e.Pid)
			}
			byPID[e.Pid] = append(byPID[e.Pid], e)
		}
		if len(request.ResourceSpans) != len(order) {
			t.Fatalf("batch %d: %d resources, want %d (one per process)", batches, len(request.ResourceSpans), len(order))
		}
		for i, rs := range request.ResourceSpans {
			pid := order[i]
			res := resourceMap(rs.Resource)
			want := map[string]any{"service.name": fmt.Sprint("exe", pid), "process.pid": int64(pid), "process.parent_pid": int64(1),
				"process.executable.name": fmt.Sprint("exe", pid), "process.executable.path": fmt.Sprint("/bin/exe", pid),
				"process.owner": "root", "container.id": fmt.Sprint("c", pid), "k8s.pod.uid": fmt.Sprint("pod", pid), "host.name": "test-host"}
			if pid == 106 { // gone before it was read: what its first record says
				first := slices.IndexFunc(events, func(e bpf.Event) bool { return e.Pid == pid })
				want = map[string]any{"service.name": string(bytes.TrimRight(events[first].Comm[:], "\x00")), "process.pid": int64(pid), "host.name": "test-host"}
			}
			if !maps.Equal(res, want) {
				t.Errorf("resource of process %d: %v, want %v", pid, res, want)
			}
			got := rs.ScopeSpans[0].Spans
			if len(rs.ScopeSpans) != 1 || len(got) != len(byPID[pid]) {
				t.Fatalf("process %d: %d scopes, %d spans, want 1 scope of %d", pid, len(rs.ScopeSpans), len(got), len(byPID[pid]))
			}
			for j, span := range got {
				if e := byPID[pid][j]; attrs(span)["process.pid"] != int64(e.Pid) || span.SpanId[7] != byte(e.SpanId) {
					t.Errorf("process %d's span %d is not its record's: %v", pid, j, span)
				}
			}
		}
		spans += b.Len()
		return nil
	}, WithProcesses(processes, false))
	if spans != len(events) {
		t.Errorf("%d spans of %d", spans, len(events))
	}
	for pid, n := range processes.reads {
		if n != 1 {
			t.Errorf("process %d read %d times, want once", pid, n)
		}
	}
}

func resourceMap(res *resourcepb.Resource) map[string]any {
	m := map[string]any{}
	for _, kv := range res.GetAttributes() {
		switch v := kv.Value.GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		}
	}
	return m
}

// A span longer than the two bytes OpenMessage leaves for its length, and a link shorter than
// one byte's worth, are moved into place.
func TestSpanLengthsOfEverySize(t *testing.T) {
	for _, name := range []string{"", "f", strings.Repeat("n", 16_000), strings.Repeat("n", 20_000), strings.Repeat("n", 3_000_000)} {
		target := spantest.UprobeTarget
		target.Name = name
		info := NewProbeInfo(target, errno.DefaultSet())
		for _, e := range spantest.VariedEvents(3) {
			if span := buildSpan(t, &e, &info, fixedClock(0), "x"); span.Name != name {
				t.Fatalf("name of %d bytes came back as %d bytes", len(name), len(span.Name))
			}
		}
	}
}

// BenchmarkEncodeRequest encodes 512 spans into a request: from the kernel's records, as the
// pipeline does (the per-span work), against proto.Marshal of the same request's structs; and
// the same spans from 100 processes, a resource each.
func BenchmarkEncodeRequest(b *testing.B) {
	const spans = 512
	events := spantest.VariedEvents(spans)
	probes := testProbes()
	clock := fixedClock(1_700_000_000_000_000_000)
	var request *collectortracepb.ExportTraceServiceRequest
	runPipeline(b, probes, events, spans, func(batch *Batch) error {
		var err error
		request, err = batch.Decode()
		return err
	})
	scope, err := encodeScope()
	if err != nil {
		b.Fatal(err)
	}
	batch := &Batch{scope: scope}
	comms := newCommInterner()
	// One resource for every span, or one per process of 100 whose spans take turns.
	oneResource, err := newProcessCache(testResource(), nil, false, newServiceTable())
	if err != nil {
		b.Fatal(err)
	}
	processes := newFakeProcesses()
	processEvents := slices.Clone(events)
	for i := range processEvents {
		processEvents[i].Pid = uint32(1000 + i%100)
		processes.add(processinfo.Process{PID: processEvents[i].Pid, StartTicks: 1, ExecutableName: "app", ContainerID: "c"})
	}
	perProcess, err := newProcessCache(testResource(), processes, false, newServiceTable())
	if err != nil {
		b.Fatal(err)
	}
	encode := func(cache *processCache, events []bpf.Event) int {
		batch.reset()
		batch.fill++
		for i := range events {
			e := &events[i]
			batch.add(cache.lookup(e))
			batch.spans, _ = appendSpan(batch.spans, e, &probes[e.ProbeId], clock, comms.intern(&e.Comm), "")
		}
		return batch.RequestSize()
	}
	for _, bench := range []struct {
		name   string
		encode func() int
	}{
		{"proto.Marshal", func() int {
			data, err := proto.Marshal(request)
			if err != nil {
				b.Fatal(err)
			}
			return len(data)
		}},
		{"kretspan", func() int { return encode(oneResource, events) }},
		{"kretspan, 100 processes", func() int { return encode(perProcess, processEvents) }},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			size := 0
			for b.Loop() {
				size = bench.encode()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
			b.ReportMetric(float64(size)/spans, "B/span")
		})
	}
}
