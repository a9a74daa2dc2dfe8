package otelbridge

import (
	"encoding/binary"
	"strings"
	"sync/atomic"

	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
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
	AttrErrno       = "kretspan.errno"             // errno name of any errno return, failure or not, e.g. EINPROGRESS
	AttrErrorType   = string(semconv.ErrorTypeKey) // errno name of a failure, e.g. ENOENT
	AttrLinkReason  = "kretspan.link.reason"       // on a link that stands in for the parent edge
)

// valueSource is where an attribute's value comes from. Sources are grouped by kind, so that a
// span slot stores each kind's values compactly, indexed by source.
type valueSource uint8

const (
	// Per call, ints.
	returnValue valueSource = iota
	processID
	threadID
	cpuNumber
	// Per call, strings.
	threadName
	errnoName    // on every errno return of a probe whose target returns errnos
	failureErrno // the same, on failures only
	// Per probe, strings: the same for every call, built once by NewProbeInfo.
	probeKind
	probeTarget
	valueSources // how many there are

	firstString   = threadName
	firstPerProbe = probeKind
)

// spanAttribute is one row of the attribute table: a key, and where its value comes from.
type spanAttribute struct {
	key    string
	source valueSource
}

// spanAttributes is every attribute of a span, in the order spans carry them; the per-probe ones
// come last whatever their place here. Each source has one row.
var spanAttributes = [...]spanAttribute{
	{AttrReturnValue, returnValue},
	{AttrPID, processID},
	{AttrTID, threadID},
	{AttrCPU, cpuNumber},
	{AttrThreadName, threadName},
	{AttrErrno, errnoName},
	{AttrErrorType, failureErrno},
	{AttrProbeKind, probeKind},
	{AttrProbeTarget, probeTarget},
}

// ProbeInfo is what a span needs to know of the probe that produced it.
type ProbeInfo struct {
	Name         string // span name: function, syscall or symbol
	ReturnsErrno bool   // returns in [-4095, -1] are errnos: kretspan.errno, and status Error for failures
	notFailures  errno.Set
	attributes   []*commonpb.KeyValue
}

// NewProbeInfo describes a resolved target for span building; notFailures are its errnos that are
// outcomes, not failures. File paths and symbols may hold any bytes, and OTLP refuses a whole
// request over one string that is not UTF-8.
func NewProbeInfo(t probe.Target, notFailures errno.Set) ProbeInfo {
	info := ProbeInfo{Name: strings.ToValidUTF8(t.Name, "\uFFFD"), ReturnsErrno: t.ReturnsErrno, notFailures: notFailures}
	for _, row := range spanAttributes {
		var value string
		switch row.source {
		case probeKind:
			value = string(t.Kind)
		case probeTarget:
			value = t.Label()
		default:
			continue // per call
		}
		info.attributes = append(info.attributes, stringKeyValue(row.key, strings.ToValidUTF8(value, "\uFFFD")))
	}
	return info
}

func stringKeyValue(key, value string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: value}}}
}

// errorStatuses are failed calls' statuses by errno, shared by their spans as the per-probe
// attributes are: read-only, and no room in a slot.
var errorStatuses [errno.Max + 1]atomic.Pointer[tracepb.Status]

func errorStatus(ret int64) *tracepb.Status {
	cached := &errorStatuses[-ret]
	if status := cached.Load(); status != nil {
		return status
	}
	status := &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: errno.Message(ret)}
	cached.Store(status)
	return status
}

// spanSlot holds one span and everything it points to, so that a batch builds spans without
// allocating: slots are reused from batch to batch. Keep it small: the queued batches' slots are
// the memory every span passes through, and once they outgrow the cache each byte costs (272 bytes
// more per slot made BenchmarkInProcess 60% slower). Hence values stored compactly by kind, a
// shared status, and link storage only for slots that need it.
type spanSlot struct {
	span    tracepb.Span
	ids     [32]byte // trace id, span id, parent span id
	attrs   [len(spanAttributes)]*commonpb.KeyValue
	kvs     [firstPerProbe]commonpb.KeyValue // per-call attributes, by source
	values  [firstPerProbe]commonpb.AnyValue
	ints    [firstString]commonpb.AnyValue_IntValue
	strings [firstPerProbe - firstString]commonpb.AnyValue_StringValue
	link    *spanLink
	linked  bool // init has run
}

// spanLink is a slot's link to a parent it cannot name as such (see outsideParentWindow).
type spanLink struct {
	link  tracepb.Span_Link
	links [1]*tracepb.Span_Link
}

// init links each per-call attribute's key and value once, so that a span only writes the values.
func (slot *spanSlot) init() {
	for _, row := range spanAttributes {
		s := row.source
		switch {
		case s < firstString:
			slot.values[s].Value = &slot.ints[s]
		case s < firstPerProbe:
			slot.values[s].Value = &slot.strings[s-firstString]
		default:
			continue
		}
		slot.kvs[s] = commonpb.KeyValue{Key: row.key, Value: &slot.values[s]}
	}
	slot.linked = true
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
			if slot.link == nil {
				slot.link = &spanLink{} // once per slot: reused by its later spans
			}
			l := slot.link
			l.link = tracepb.Span_Link{TraceId: span.TraceId, SpanId: slot.ids[24:32], Attributes: outsideWindowLinkAttributes}
			l.links[0] = &l.link
			span.Links = l.links[:]
		} else {
			span.ParentSpanId = slot.ids[24:32]
		}
	}

	var name string // errno name, if the return is one
	failure := false
	span.Status = nil
	if info.ReturnsErrno && errno.Is(event.Ret) {
		name = errno.Name(event.Ret)
		if failure = info.notFailures.Failure(event.Ret); failure {
			span.Status = errorStatus(event.Ret)
		}
	}
	if !slot.linked {
		slot.init()
	}
	// A switch, not a function per row: calls through function values cost a quarter of buildSpan.
	n := 0
	for _, row := range spanAttributes {
		s := row.source
		switch s {
		case returnValue:
			slot.ints[s].IntValue = event.Ret
		case processID:
			slot.ints[s].IntValue = int64(event.Pid)
		case threadID:
			slot.ints[s].IntValue = int64(event.Tid)
		case cpuNumber:
			slot.ints[s].IntValue = int64(event.Cpu)
		case threadName:
			slot.strings[s-firstString].StringValue = comm
		case errnoName, failureErrno:
			if name == "" || s == failureErrno && !failure {
				continue
			}
			slot.strings[s-firstString].StringValue = name
		default:
			continue // per probe, added below
		}
		slot.attrs[n] = &slot.kvs[s]
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
