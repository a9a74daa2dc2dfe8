package otelbridge

import (
	"encoding/binary"
	"strings"

	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

// Attribute keys kretspan sets; semantic-convention names where one exists. Each has its row in
// spanAttributes, or is a link's (AttrLinkReason): a test fails for a key that has neither.
const (
	AttrReturnValue = "kretspan.return_value"
	AttrProbeKind   = "kretspan.probe.kind"   // kprobe, fentry, syscall, uprobe
	AttrProbeTarget = "kretspan.probe.target" // e.g. kprobe:vfs_read, uprobe:/usr/bin/app:main.handle
	AttrPID         = string(semconv.ProcessPIDKey)
	AttrTID         = string(semconv.ThreadIDKey)
	AttrThreadName  = string(semconv.ThreadNameKey) // the task's comm
	AttrCPU         = string(semconv.CPULogicalNumberKey)
	AttrErrorType   = string(semconv.ErrorTypeKey) // errno name, e.g. ENOENT
	AttrLinkReason  = "kretspan.link.reason"       // on a link that stands in for the parent edge
)

// call is what a span's attributes are read from. Rows take it by value: a pointer passed to a
// function value escapes, and would cost an allocation per span.
type call struct {
	event *bpf.Event
	comm  string // the event's command name, interned
	errno string // the return's errno name, "" unless the probe returns errnos and this is one
}

// spanAttribute is one row of the attribute table: a key, and where its value comes from. Exactly
// one source is set, and its kind is the value's type. A per-call source returns false when the
// span has no such attribute.
type spanAttribute struct {
	key         string
	intValue    func(call) (int64, bool)
	stringValue func(call) (string, bool)
	probeValue  func(probe.Target) string // the same for every call of a probe: built once, by NewProbeInfo
}

// spanAttributes is every attribute of a span, in the order spans carry them; the per-probe ones
// come last whatever their place here.
var spanAttributes = [...]spanAttribute{
	{key: AttrReturnValue, intValue: func(c call) (int64, bool) { return c.event.Ret, true }},
	{key: AttrPID, intValue: func(c call) (int64, bool) { return int64(c.event.Pid), true }},
	{key: AttrTID, intValue: func(c call) (int64, bool) { return int64(c.event.Tid), true }},
	{key: AttrCPU, intValue: func(c call) (int64, bool) { return int64(c.event.Cpu), true }},
	{key: AttrThreadName, stringValue: func(c call) (string, bool) { return c.comm, true }},
	{key: AttrErrorType, stringValue: func(c call) (string, bool) { return c.errno, c.errno != "" }},
	{key: AttrProbeKind, probeValue: func(t probe.Target) string { return string(t.Kind) }},
	{key: AttrProbeTarget, probeValue: func(t probe.Target) string { return t.Label() }},
}

// ProbeInfo is what a span needs to know of the probe that produced it.
type ProbeInfo struct {
	Name         string // span name: function, syscall or symbol
	ReturnsErrno bool   // negative returns in [-4095, -1] are errnos: status Error
	attributes   []*commonpb.KeyValue
}

// NewProbeInfo describes a resolved target for span building. File paths and symbols may hold
// any bytes, and OTLP refuses a whole request over one string that is not UTF-8.
func NewProbeInfo(t probe.Target) ProbeInfo {
	info := ProbeInfo{Name: strings.ToValidUTF8(t.Name, "\uFFFD"), ReturnsErrno: t.ReturnsErrno}
	for _, row := range spanAttributes {
		if row.probeValue != nil {
			info.attributes = append(info.attributes, stringKeyValue(row.key, strings.ToValidUTF8(row.probeValue(t), "\uFFFD")))
		}
	}
	return info
}

func stringKeyValue(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

// spanSlot holds one span and everything it points to, so that a batch builds spans without
// allocating: slots are reused from batch to batch. Attribute row i lives at index i, its key and
// value linked once, by init, so that a span only writes the values.
type spanSlot struct {
	span    tracepb.Span
	status  tracepb.Status
	ids     [32]byte // trace id, span id, parent span id
	attrs   [len(spanAttributes)]*commonpb.KeyValue
	kvs     [len(spanAttributes)]commonpb.KeyValue
	values  [len(spanAttributes)]commonpb.AnyValue
	ints    [len(spanAttributes)]commonpb.AnyValue_IntValue
	strings [len(spanAttributes)]commonpb.AnyValue_StringValue
	link    tracepb.Span_Link
	links   [1]*tracepb.Span_Link
	linked  bool // init has run
}

func (s *spanSlot) init() {
	for i, row := range spanAttributes {
		s.kvs[i] = commonpb.KeyValue{Key: row.key, Value: &s.values[i]}
		switch {
		case row.intValue != nil:
			s.values[i].Value = &s.ints[i]
		case row.stringValue != nil:
			s.values[i].Value = &s.strings[i]
		}
	}
	s.linked = true
}

// buildSpan fills slot with the span for event. clock converts its monotonic timestamps and
// comm is the event's command name as a string (interned by the caller).
func buildSpan(slot *spanSlot, event *bpf.Event, info *ProbeInfo, clock *WallClock, comm string) *tracepb.Span {
	span := &slot.span
	copy(slot.ids[:16], event.TraceId[:])
	binary.BigEndian.PutUint64(slot.ids[16:24], event.SpanId)
	span.TraceId = slot.ids[:16]
	span.SpanId = slot.ids[16:24]
	span.Name = info.Name
	span.Kind = tracepb.Span_SPAN_KIND_INTERNAL
	span.StartTimeUnixNano = clock.UnixNano(event.StartNs)
	span.EndTimeUnixNano = clock.UnixNano(event.EndNs)
	span.ParentSpanId = nil
	span.Links = nil
	if event.ParentSpanId != 0 {
		binary.BigEndian.PutUint64(slot.ids[24:32], event.ParentSpanId)
		if outsideParentWindow(event, span.StartTimeUnixNano) {
			slot.link = tracepb.Span_Link{TraceId: span.TraceId, SpanId: slot.ids[24:32], Attributes: outsideWindowLinkAttributes}
			slot.links[0] = &slot.link
			span.Links = slot.links[:]
		} else {
			span.ParentSpanId = slot.ids[24:32]
		}
	}

	c := call{event: event, comm: comm}
	span.Status = nil
	if info.ReturnsErrno {
		if c.errno = ErrnoName(event.Ret); c.errno != "" {
			slot.status = tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: errnoMessage(event.Ret)}
			span.Status = &slot.status
		}
	}
	if !slot.linked {
		slot.init()
	}
	n := 0
	for i := range spanAttributes {
		row := &spanAttributes[i]
		switch {
		case row.intValue != nil:
			v, ok := row.intValue(c)
			if !ok {
				continue
			}
			slot.ints[i].IntValue = v
		case row.stringValue != nil:
			v, ok := row.stringValue(c)
			if !ok {
				continue
			}
			slot.strings[i].StringValue = v
		default:
			continue // per probe, added below
		}
		slot.attrs[n] = &slot.kvs[i]
		n++
	}
	n += copy(slot.attrs[n:], info.attributes)
	span.Attributes = slot.attrs[:n]
	return span
}

// outsideWindowLinkAttributes mark the link that replaces a parent edge.
var outsideWindowLinkAttributes = []*commonpb.KeyValue{stringKeyValue(AttrLinkReason, "kernel span starts before the application bound its span to the thread")}

// outsideParentWindow reports whether a call under an application span appears to start before
// the application bound that span, by the application's own clock. The kernel's order says it
// cannot, so the clocks disagree (a skewed clock, another time namespace): a parent edge would
// draw the child outside its parent, and a link is the honest relation.
func outsideParentWindow(event *bpf.Event, startUnixNano uint64) bool {
	return event.Flags&bpf.EventRemoteParent != 0 && event.BoundWallNs != 0 && startUnixNano < event.BoundWallNs
}

// commInterner turns comm byte arrays into strings, allocating once per distinct name.
type commInterner map[[16]byte]string

// maxInternedComms bounds the interner; past it the table starts afresh.
const maxInternedComms = 4096

func (c commInterner) intern(comm *[16]byte) string {
	if s, ok := c[*comm]; ok {
		return s
	}
	if len(c) >= maxInternedComms {
		clear(c)
	}
	n := 0
	for n < len(comm) && comm[n] != 0 {
		n++
	}
	// A thread may name itself with any bytes; OTLP strings must be UTF-8, or the whole batch is refused.
	s := strings.ToValidUTF8(string(comm[:n]), "\uFFFD")
	c[*comm] = s
	return s
}
