package otelbridge

import (
	"encoding/binary"
	"strings"
	"sync/atomic"

	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/otlpwire"
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

// valueSource is where an attribute's value comes from.
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
	// Per probe: the same for every call, encoded once by NewProbeInfo.
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

// The per-call attributes' keys by source, encoded once; the int ones up to their value.
var (
	perCallKeys   [firstPerProbe]otlpwire.Key
	intAttributes [firstString]*otlpwire.IntAttribute
)

func init() {
	for _, row := range spanAttributes {
		s := row.source
		if s < firstPerProbe {
			perCallKeys[s] = otlpwire.NewKey(row.key)
		}
		if s < firstString {
			intAttributes[s] = otlpwire.NewIntAttribute(otlpwire.SpanAttribute, perCallKeys[s])
		}
	}
}

// ProbeInfo is what a span needs to know of the probe that produced it.
type ProbeInfo struct {
	ReturnsErrno bool // returns in [-4095, -1] are errnos: kretspan.errno, and status Error for failures
	notFailures  errno.Set
	// The span's bytes that are the same for every call, encoded once: name and kind (head), and
	// the per-probe attributes (tail).
	head, tail []byte
	args       *argAttributes // nil: no arguments captured
}

// NewProbeInfo describes a resolved target for span building; notFailures are its errnos that are
// outcomes, not failures. File paths and symbols may hold any bytes, and OTLP refuses a whole
// request over one string that is not UTF-8.
func NewProbeInfo(t probe.Target, notFailures errno.Set) ProbeInfo {
	info := ProbeInfo{ReturnsErrno: t.ReturnsErrno, notFailures: notFailures}
	if name := strings.ToValidUTF8(t.Name, "\uFFFD"); name != "" {
		info.head = otlpwire.AppendString(info.head, otlpwire.SpanName, name)
	}
	info.head = otlpwire.AppendVarint(info.head, otlpwire.SpanKind, uint64(tracepb.Span_SPAN_KIND_INTERNAL))
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
		info.tail = otlpwire.AppendStringAttribute(info.tail, otlpwire.SpanAttribute, otlpwire.NewKey(row.key), strings.ToValidUTF8(value, "\uFFFD"))
	}
	return info
}

// errnoFields are the span fields that name an errno, encoded once per errno: the attributes
// of the errnoName and failureErrno sources, and the status of a failure.
type errnoFields struct {
	attributes [firstPerProbe][]byte
	status     []byte
}

var errnoEncodings [errno.Max + 1]atomic.Pointer[errnoFields]

// errnoEncoding is the encoding of ret's errno, which must satisfy errno.Is.
func errnoEncoding(ret int64) *errnoFields {
	cached := &errnoEncodings[-ret]
	if fields := cached.Load(); fields != nil {
		return fields
	}
	fields := &errnoFields{}
	for _, s := range []valueSource{errnoName, failureErrno} {
		fields.attributes[s] = otlpwire.AppendStringAttribute(nil, otlpwire.SpanAttribute, perCallKeys[s], errno.Name(ret))
	}
	var status []byte
	status = otlpwire.AppendString(status, otlpwire.StatusMessage, errno.Message(ret))
	status = otlpwire.AppendVarint(status, otlpwire.StatusCode, uint64(tracepb.Status_STATUS_CODE_ERROR))
	fields.status = otlpwire.AppendBytes(nil, otlpwire.SpanStatus, status)
	cached.Store(fields)
	return fields
}

// appendSpan appends the span for event to dst, as a span field of ScopeSpans, and returns its
// end time too. clock converts the event's monotonic timestamps, comm is the thread.name
// attribute of its command name (see commInterner), and stack the text of its longest block's
// stacks ("": no blocked event). Fields go in field-number order, as
// protobuf-go writes them.
func appendSpan(dst []byte, event *bpf.Event, info *ProbeInfo, clock *WallClock, comm []byte, stack string) (_ []byte, endUnixNano uint64) {
	dst, mark := otlpwire.OpenMessage(dst, otlpwire.ScopeSpansSpan)
	dst = otlpwire.AppendBytes(dst, otlpwire.SpanTraceID, event.TraceId[:])
	dst = otlpwire.AppendSpanID(dst, otlpwire.SpanSpanID, event.SpanId)
	start, end := clock.UnixNano(event.StartNs), clock.UnixNano(event.EndNs)
	linkParent := event.ParentSpanId != 0 && outsideParentWindow(event, start)
	if event.ParentSpanId != 0 && !linkParent {
		dst = otlpwire.AppendSpanID(dst, otlpwire.SpanParentSpanID, event.ParentSpanId)
	}
	dst = append(dst, info.head...)
	dst = otlpwire.AppendFixed64(dst, otlpwire.SpanStartTimeUnixNano, start)
	dst = otlpwire.AppendFixed64(dst, otlpwire.SpanEndTimeUnixNano, end)

	var errnoFields *errnoFields // if the return is an errno
	failure := false
	if info.ReturnsErrno && errno.Is(event.Ret) {
		errnoFields = errnoEncoding(event.Ret)
		failure = info.notFailures.Failure(event.Ret)
	}
	// A switch, not a function per row: calls through function values cost a quarter of the span.
	for _, row := range spanAttributes {
		s := row.source
		switch s {
		case returnValue:
			dst = intAttributes[s].Append(dst, event.Ret)
		case processID:
			dst = intAttributes[s].Append(dst, int64(event.Pid))
		case threadID:
			dst = intAttributes[s].Append(dst, int64(event.Tid))
		case cpuNumber:
			dst = intAttributes[s].Append(dst, int64(event.Cpu))
		case threadName:
			dst = append(dst, comm...)
		case errnoName, failureErrno:
			if errnoFields != nil && (s == errnoName || failure) {
				dst = append(dst, errnoFields.attributes[s]...)
			}
		}
	}
	if info.args != nil {
		if tail := bpf.ArgsTail(event); tail != nil {
			dst = info.args.append(dst, tail)
		}
	}
	dst = append(dst, info.tail...)
	split := event.Sched()
	if split != nil {
		dst = appendSchedAttributes(dst, split)
		if stack != "" {
			dst = appendBlockedEvent(dst, split, clock, stack)
		}
	}
	if linkParent {
		link, mark := otlpwire.OpenMessage(dst, otlpwire.SpanLink)
		link = otlpwire.AppendBytes(link, otlpwire.LinkTraceID, event.TraceId[:])
		link = otlpwire.AppendSpanID(link, otlpwire.LinkSpanID, event.ParentSpanId)
		dst = otlpwire.CloseMessage(append(link, outsideWindowLinkAttribute...), mark)
	}
	if failure {
		dst = append(dst, errnoFields.status...)
	}
	return otlpwire.CloseMessage(dst, mark), end
}

// outsideWindowLinkAttribute marks the link that replaces a parent edge.
var outsideWindowLinkAttribute = otlpwire.AppendStringAttribute(nil, otlpwire.LinkAttribute, otlpwire.NewKey(AttrLinkReason),
	"kernel span starts before the application bound its span to the thread")

// outsideParentWindow reports whether a call under an application span appears to start before
// the application bound that span, by the application's own clock. The kernel's order says it
// cannot, so the clocks disagree (a skewed clock, another time namespace): a parent edge would
// draw the child outside its parent, and a link is the honest relation.
func outsideParentWindow(event *bpf.Event, startUnixNano uint64) bool {
	return event.Flags&bpf.EventRemoteParent != 0 && event.BoundWallNs != 0 && startUnixNano < event.BoundWallNs
}

// commInterner turns comm byte arrays into their thread.name attribute, encoded once per
// distinct name. A few recent names are found without hashing: events come in runs of the same
// threads, and the map's hash of 16 bytes was a fifth of a span's cost.
type commInterner struct {
	recent [recentComms]internedComm
	all    map[[16]byte][]byte
}

type internedComm struct {
	comm      [16]byte
	attribute []byte
}

const (
	recentCommsBits  = 6
	recentComms      = 1 << recentCommsBits
	maxInternedComms = 4096 // past it the table starts afresh
)

func newCommInterner() *commInterner { return &commInterner{all: map[[16]byte][]byte{}} }

func (c *commInterner) intern(comm *[16]byte) []byte {
	lo, hi := binary.LittleEndian.Uint64(comm[:8]), binary.LittleEndian.Uint64(comm[8:])
	slot := &c.recent[((lo^hi)*0x9e3779b97f4a7c15)>>(64-recentCommsBits)] // Fibonacci hashing
	if slot.attribute != nil && slot.comm == *comm {
		return slot.attribute
	}
	attribute, ok := c.all[*comm]
	if !ok {
		if len(c.all) >= maxInternedComms {
			clear(c.all)
			c.recent = [recentComms]internedComm{}
		}
		n := 0
		for n < len(comm) && comm[n] != 0 {
			n++
		}
		// A thread may name itself with any bytes; OTLP strings must be UTF-8, or the whole batch is refused.
		name := strings.ToValidUTF8(string(comm[:n]), "\uFFFD")
		attribute = otlpwire.AppendStringAttribute(nil, otlpwire.SpanAttribute, perCallKeys[threadName], name)
		c.all[*comm] = attribute
	}
	*slot = internedComm{*comm, attribute}
	return attribute
}
