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

// Attribute keys kretspan sets on every span; semantic-convention names where one exists.
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

// ProbeInfo is what a span needs to know of the probe that produced it.
type ProbeInfo struct {
	Name         string // span name: function, syscall or symbol
	ReturnsErrno bool   // negative returns in [-4095, -1] are errnos: status Error
	static       [2]*commonpb.KeyValue
}

// NewProbeInfo describes a resolved target for span building. File paths and symbols may hold
// any bytes, and OTLP refuses a whole request over one string that is not UTF-8.
func NewProbeInfo(t probe.Target) ProbeInfo {
	return ProbeInfo{
		Name:         strings.ToValidUTF8(t.Name, "\uFFFD"),
		ReturnsErrno: t.ReturnsErrno,
		static: [2]*commonpb.KeyValue{
			stringKeyValue(AttrProbeKind, string(t.Kind)),
			stringKeyValue(AttrProbeTarget, strings.ToValidUTF8(t.Label(), "\uFFFD")),
		},
	}
}

func stringKeyValue(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

const (
	intAttributes    = 4 // return value, pid, tid, cpu
	stringAttributes = 2 // thread name, error type
	maxAttributes    = intAttributes + stringAttributes + len(ProbeInfo{}.static)
)

// spanSlot holds one span and everything it points to, so that a batch builds spans without
// allocating: slots are reused from batch to batch.
type spanSlot struct {
	span    tracepb.Span
	status  tracepb.Status
	ids     [32]byte // trace id, span id, parent span id
	attrs   [maxAttributes]*commonpb.KeyValue
	kvs     [intAttributes + stringAttributes]commonpb.KeyValue
	values  [intAttributes + stringAttributes]commonpb.AnyValue
	ints    [intAttributes]commonpb.AnyValue_IntValue
	strings [stringAttributes]commonpb.AnyValue_StringValue
	link    tracepb.Span_Link
	links   [1]*tracepb.Span_Link
	event   bpf.Event // the record, kept for sinks that print it
	comm    string
}

var intKeys = [intAttributes]string{AttrReturnValue, AttrPID, AttrTID, AttrCPU}

// buildSpan fills slot with the span for event. clock converts its monotonic timestamps and
// comm is the event's command name as a string (interned by the caller).
func buildSpan(slot *spanSlot, event *bpf.Event, info *ProbeInfo, clock *WallClock, comm string) *tracepb.Span {
	slot.event = *event
	slot.comm = comm
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

	ints := [intAttributes]int64{event.Ret, int64(event.Pid), int64(event.Tid), int64(event.Cpu)}
	n := 0
	for i, key := range intKeys {
		slot.ints[i].IntValue = ints[i]
		slot.values[n].Value = &slot.ints[i]
		slot.kvs[n] = commonpb.KeyValue{Key: key, Value: &slot.values[n]}
		slot.attrs[n] = &slot.kvs[n]
		n++
	}
	addString := func(i int, key, value string) {
		slot.strings[i].StringValue = value
		slot.values[n].Value = &slot.strings[i]
		slot.kvs[n] = commonpb.KeyValue{Key: key, Value: &slot.values[n]}
		slot.attrs[n] = &slot.kvs[n]
		n++
	}
	addString(0, AttrThreadName, comm)
	span.Status = nil
	if info.ReturnsErrno {
		if name := ErrnoName(event.Ret); name != "" {
			addString(1, AttrErrorType, name)
			slot.status = tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: errnoMessage(event.Ret)}
			span.Status = &slot.status
		}
	}
	n += copy(slot.attrs[n:], info.static[:])
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
