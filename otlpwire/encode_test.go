package otlpwire

import (
	"bytes"
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

// encode returns req's encoding, as a transport would write it.
func encode(req *collectortracepb.ExportTraceServiceRequest) ([]byte, error) {
	return Append(nil, req, Size(req))
}

// checkEncodesLikeProtobuf fails t unless the encoder encodes req byte for byte as protobuf-go does.
func checkEncodesLikeProtobuf(t *testing.T, req *collectortracepb.ExportTraceServiceRequest) {
	t.Helper()
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	got, err := encode(req)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !bytes.Equal(got, want) {
		at := 0
		for at < min(len(got), len(want)) && got[at] == want[at] {
			at++
		}
		t.Fatalf("the encoder wrote %d bytes, protobuf-go %d; first difference at byte %d\ngot  %x\nwant %x", len(got), len(want), at, got, want)
	}
	if size := Size(req); size != len(want) {
		t.Fatalf("Size %d, encoding %d bytes", size, len(want))
	}
}

// sinkFunc is a Sink that hands each batch to a function.
type sinkFunc func(*otelbridge.Batch) error

func (f sinkFunc) Export(_ context.Context, b *otelbridge.Batch) error { return f(b) }
func (sinkFunc) Shutdown(context.Context) error                        { return nil }

// runPipeline builds spans for events with kretspan's Pipeline, in batches of batchSize, and
// hands each batch to export.
func runPipeline(tb testing.TB, events []bpf.Event, batchSize int, export func(*otelbridge.Batch) error) {
	tb.Helper()
	for _, name := range []string{"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		tb.Setenv(name, "")
	}
	resource, err := otelbridge.NewResource(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	probes := []otelbridge.ProbeInfo{{}, otelbridge.NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet()), otelbridge.NewProbeInfo(spantest.UprobeTarget, errno.DefaultSet())}
	const mono, offset = 1_000_000, 1_700_000_000_000_000_000
	clock := otelbridge.NewWallClock(otelbridge.Clocks{Monotonic: func() int64 { return mono }, Realtime: func() int64 { return mono + offset }})
	// A queue that holds every batch, so that none is dropped however slowly export runs.
	p, err := otelbridge.NewPipeline(sinkFunc(export), probes, resource, clock,
		otelbridge.WithBatchSize(batchSize), otelbridge.WithQueueBatches(len(events)/batchSize+1))
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

// variedEvents are n events that take buildSpan's every path: errno and plain returns, with and
// without a parent, a parent outside the application's window (a link), both probes.
func variedEvents(n int) []bpf.Event {
	comms := []string{"cat", "", "kworker/u16:3-ev", "naïve"}
	rets := []int64{-2, 0, 7, -4095, math.MinInt64, math.MaxInt64, -4096}
	events := make([]bpf.Event, n)
	for i := range events {
		e := spantest.Event(uint32(1+i%2), rets[i%len(rets)], comms[i%len(comms)])
		e.SpanId = uint64(i)*0x9e3779b97f4a7c15 + 1
		e.Pid, e.Tid, e.Cpu = uint32(i*977), uint32(i*13), uint32(i%64)
		e.EndNs += uint64(i) << 20
		switch i % 3 {
		case 1:
			e.ParentSpanId = 0
		case 2:
			e.Flags = bpf.EventRemoteParent
			e.BoundWallNs = math.MaxUint64 // after the start: the parent becomes a link
		}
		events[i] = e
	}
	return events
}

func TestEncodesPipelineSpansLikeProtobuf(t *testing.T) {
	events := variedEvents(100)
	batches := 0
	runPipeline(t, events, 16, func(b *otelbridge.Batch) error {
		batches++
		checkEncodesLikeProtobuf(t, &collectortracepb.ExportTraceServiceRequest{ResourceSpans: b.ResourceSpans()})
		return nil
	})
	if batches != 7 {
		t.Errorf("%d batches, want 7", batches)
	}
}

func stringValue(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func intValue(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}

// everyAnyValue holds each AnyValue variant, with zero and extreme values, nested containers,
// and the nil and empty forms protobuf-go accepts.
func everyAnyValue() []*commonpb.KeyValue {
	nested := &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
		{Key: "list", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
			intValue(1), stringValue("two"), nil, {}, {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}},
		}}}}},
		{Key: "empty kvlist", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{}}}},
		nil,
	}}}}
	values := []*commonpb.AnyValue{
		stringValue(""), stringValue("ascii"), stringValue("多字节 ✓"), stringValue(strings.Repeat("long ", 4000)),
		{Value: &commonpb.AnyValue_BoolValue{BoolValue: false}}, {Value: &commonpb.AnyValue_BoolValue{BoolValue: true}},
		intValue(0), intValue(1), intValue(-1), intValue(127), intValue(128), intValue(math.MaxInt64), intValue(math.MinInt64),
		{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0}}, {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Copysign(0, -1)}},
		{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: -1.5e300}}, {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(1)}},
		{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.SmallestNonzeroFloat64}},
		{Value: &commonpb.AnyValue_BytesValue{}}, {Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{}}},
		{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 0xff, 0x80}}},
		{Value: &commonpb.AnyValue_ArrayValue{}}, {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}},
		{Value: &commonpb.AnyValue_KvlistValue{}}, {Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{}}},
		{Value: &commonpb.AnyValue_StringValueStrindex{}}, {Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: -7}},
		{Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: math.MaxInt32}},
		{Value: (*commonpb.AnyValue_IntValue)(nil)}, {Value: (*commonpb.AnyValue_ArrayValue)(nil)},
		{}, nested,
	}
	kvs := []*commonpb.KeyValue{nil, {}, {Key: "no value"}, {KeyStrindex: 3}, {KeyStrindex: -1, Value: intValue(2)}}
	for _, v := range values {
		kvs = append(kvs, &commonpb.KeyValue{Key: "k", Value: v})
	}
	return kvs
}

func TestEncodesEveryValueLikeProtobuf(t *testing.T) {
	attrs := everyAnyValue()
	id16 := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	full := &tracepb.Span{
		TraceId: id16, SpanId: id16[:8], TraceState: "rojo=00f067aa0ba902b7", ParentSpanId: id16[8:],
		Flags: math.MaxUint32, Name: "every field", Kind: tracepb.Span_SPAN_KIND_CONSUMER,
		StartTimeUnixNano: 1, EndTimeUnixNano: math.MaxUint64,
		Attributes: attrs, DroppedAttributesCount: math.MaxUint32,
		Events: []*tracepb.Span_Event{
			{TimeUnixNano: 42, Name: "event", Attributes: attrs[:8], DroppedAttributesCount: 1},
			{}, nil,
		},
		DroppedEventsCount: 128,
		Links: []*tracepb.Span_Link{
			{TraceId: id16, SpanId: id16[:8], TraceState: "x=y", Attributes: attrs[8:12], DroppedAttributesCount: 300, Flags: 0x301},
			{}, nil,
		},
		DroppedLinksCount: 16384,
		Status:            &tracepb.Status{Message: "broken", Code: tracepb.Status_STATUS_CODE_ERROR},
	}
	resource := &resourcepb.Resource{
		Attributes: attrs[:10], DroppedAttributesCount: 5,
		EntityRefs: []*commonpb.EntityRef{
			{SchemaUrl: "https://opentelemetry.io/schemas/1.39.0", Type: "host", IdKeys: []string{"host.id", ""}, DescriptionKeys: []string{"host.name"}},
			{}, nil,
		},
	}
	scope := &commonpb.InstrumentationScope{Name: "kretspan", Version: "v0", Attributes: attrs[10:14], DroppedAttributesCount: 2}

	for _, c := range []struct {
		name string
		req  *collectortracepb.ExportTraceServiceRequest
	}{
		{"empty request", &collectortracepb.ExportTraceServiceRequest{}},
		{"empty resource spans", &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{}}},
		{"nil and empty messages", &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			nil, {}, {Resource: &resourcepb.Resource{}, ScopeSpans: []*tracepb.ScopeSpans{
				nil, {}, {Scope: &commonpb.InstrumentationScope{}, Spans: []*tracepb.Span{nil, {}, {Status: &tracepb.Status{}}}},
			}},
		}}},
		{"zero values", &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId: []byte{}, SpanId: []byte{}, ParentSpanId: []byte{}, Attributes: []*commonpb.KeyValue{}, Events: []*tracepb.Span_Event{}, Links: []*tracepb.Span_Link{},
		}}}}}}}},
		{"negative enums", &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			Kind: -1, Status: &tracepb.Status{Code: math.MinInt32},
		}}}}}}}},
		{"every field", &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{Resource: resource, SchemaUrl: "https://opentelemetry.io/schemas/1.39.0", ScopeSpans: []*tracepb.ScopeSpans{
				{Scope: scope, SchemaUrl: "scope schema", Spans: []*tracepb.Span{full, {Name: "second"}, full}},
				{Spans: []*tracepb.Span{{Name: strings.Repeat("n", 200)}}},
			}},
			{Resource: resource},
		}}},
	} {
		t.Run(c.name, func(t *testing.T) { checkEncodesLikeProtobuf(t, c.req) })
	}
}

// TestEncodesEveryField sets each field of each message type a request can hold, one at
// a time, and checks that the encoding has it as protobuf-go's does. The fields come from the
// message descriptors, so a field a newer OTLP proto adds fails here until the encoder writes it.
func TestEncodesEveryField(t *testing.T) {
	root := (&collectortracepb.ExportTraceServiceRequest{}).ProtoReflect().Descriptor()
	messages := []protoreflect.MessageDescriptor{root}
	pathTo := map[protoreflect.FullName][]protoreflect.FieldDescriptor{root.FullName(): nil}
	for i := 0; i < len(messages); i++ {
		md := messages[i]
		var missing []protoreflect.FieldNumber
		for j := range md.Fields().Len() {
			fd := md.Fields().Get(j)
			if sub := fd.Message(); sub != nil {
				if _, seen := pathTo[sub.FullName()]; !seen {
					pathTo[sub.FullName()] = append(slices.Clone(pathTo[md.FullName()]), fd)
					messages = append(messages, sub)
				}
			}
			if !encodesField(t, pathTo[md.FullName()], fd) {
				missing = append(missing, fd.Number())
			}
		}
		if missing != nil {
			t.Errorf("%s: the encoder does not write fields %v", md.FullName(), missing)
		}
	}
	// The messages a trace request can hold, so that the walk above is known to reach them all.
	for _, name := range []protoreflect.FullName{
		"opentelemetry.proto.trace.v1.ResourceSpans", "opentelemetry.proto.resource.v1.Resource", "opentelemetry.proto.common.v1.EntityRef",
		"opentelemetry.proto.trace.v1.ScopeSpans", "opentelemetry.proto.common.v1.InstrumentationScope", "opentelemetry.proto.trace.v1.Span",
		"opentelemetry.proto.trace.v1.Span.Event", "opentelemetry.proto.trace.v1.Span.Link", "opentelemetry.proto.trace.v1.Status",
		"opentelemetry.proto.common.v1.KeyValue", "opentelemetry.proto.common.v1.AnyValue", "opentelemetry.proto.common.v1.ArrayValue",
		"opentelemetry.proto.common.v1.KeyValueList",
	} {
		if _, ok := pathTo[name]; !ok {
			t.Errorf("%s is not reachable from the request", name)
		}
	}
}

// encodesField reports whether a request holding a message at path, with field fd set in it,
// encodes as protobuf-go encodes it, which differs from the request without the field.
func encodesField(t *testing.T, path []protoreflect.FieldDescriptor, fd protoreflect.FieldDescriptor) bool {
	t.Helper()
	req := &collectortracepb.ExportTraceServiceRequest{}
	m := req.ProtoReflect()
	for _, step := range path {
		if step.IsList() {
			list := m.Mutable(step).List()
			element := list.NewElement()
			list.Append(element)
			m = element.Message()
		} else {
			m = m.Mutable(step).Message()
		}
	}
	without, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case fd.IsMap():
		t.Fatalf("%s is a map, which no OTLP trace message had when the encoder was written", fd.FullName())
	case fd.IsList():
		list := m.Mutable(fd).List()
		if fd.Message() != nil {
			list.Append(list.NewElement())
		} else {
			list.Append(nonZeroScalar(t, fd))
		}
	case fd.Message() != nil:
		m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message()))
	default:
		m.Set(fd, nonZeroScalar(t, fd))
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(want, without) {
		t.Fatalf("setting %s did not change protobuf-go's encoding", fd.FullName())
	}
	got, err := encode(req)
	if err != nil {
		t.Logf("%s: %v", fd.FullName(), err)
		return false
	}
	return bytes.Equal(got, want)
}

// nonZeroScalar is a value of fd's kind that proto3 writes; negative where the kind allows, to
// exercise sign extension.
func nonZeroScalar(t *testing.T, fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(-3)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(-3)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(-3)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(300)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(1 << 40)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(1.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(-2.5)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("é")
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte{0, 1})
	}
	t.Fatalf("%s has kind %v, which the test cannot fill", fd.FullName(), fd.Kind())
	return protoreflect.Value{}
}

func TestAppendRefusesWhatProtobufRefuses(t *testing.T) {
	if _, err := Append(nil, nil, 0); err == nil {
		t.Error("encoded a nil request")
	}
	// A task may name itself with any bytes; protobuf strings must be UTF-8.
	invalid := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
		Attributes: []*commonpb.KeyValue{{Key: otelbridge.AttrThreadName, Value: stringValue("bad\xff")}},
	}}}}}}}
	if _, err := proto.Marshal(invalid); err == nil {
		t.Fatal("protobuf-go encoded invalid UTF-8")
	}
	if _, err := encode(invalid); err == nil || !strings.Contains(err.Error(), `"bad\xff" is not valid UTF-8`) {
		t.Errorf("error %v, want one naming the invalid string", err)
	}
}

// Append adds to what dst holds, in its spare capacity, as a transport reusing a buffer needs.
func TestAppendKeepsWhatDstHolds(t *testing.T) {
	req := &collectortracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{Name: "x"}}}}}}}
	want, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 3, 3+Size(req))
	copy(dst, "abc")
	if n := testing.AllocsPerRun(10, func() { dst, err = Append(dst[:3], req, Size(req)) }); n != 0 || err != nil {
		t.Errorf("Append into a buffer with room: %v allocations, error %v", n, err)
	}
	if !bytes.Equal(dst, append([]byte("abc"), want...)) {
		t.Errorf("got %x, want abc then %x", dst, want)
	}
}

// BenchmarkEncodeRequest encodes a request of 512 spans from the Pipeline: with proto.Marshal,
// with gRPC's proto codec (what otlptracegrpc used before this encoder) and with Size and Append
// into a reused buffer.
func BenchmarkEncodeRequest(b *testing.B) {
	const spans = 512
	var req *collectortracepb.ExportTraceServiceRequest
	runPipeline(b, variedEvents(spans), spans, func(batch *otelbridge.Batch) error {
		req = proto.Clone(&collectortracepb.ExportTraceServiceRequest{ResourceSpans: batch.ResourceSpans()}).(*collectortracepb.ExportTraceServiceRequest)
		return nil
	})
	protoCodec := encoding.GetCodecV2("proto")
	var buf []byte
	for _, bench := range []struct {
		name   string
		encode func() (int, error)
	}{
		{"proto.Marshal", func() (int, error) {
			data, err := proto.Marshal(req)
			return len(data), err
		}},
		{"gRPCProtoCodec", func() (int, error) {
			data, err := protoCodec.Marshal(req)
			if err != nil {
				return 0, err
			}
			defer data.Free()
			return data.Len(), nil
		}},
		{"Append", func() (int, error) {
			var err error
			buf, err = Append(buf[:0], req, Size(req))
			return len(buf), err
		}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			b.ReportAllocs()
			size := 0
			for b.Loop() {
				n, err := bench.encode()
				if err != nil {
					b.Fatal(err)
				}
				size = n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
			b.ReportMetric(float64(size)/spans, "B/span")
		})
	}
}
