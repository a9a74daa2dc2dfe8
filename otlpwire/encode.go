package otlpwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// Size is the length of req's encoding.
func Size(req *collectortracepb.ExportTraceServiceRequest) int {
	n := 0
	for _, rs := range req.GetResourceSpans() {
		n += sizeLengthPrefixed(requestResourceSpans, sizeResourceSpans(rs))
	}
	return n
}

// Append appends req's encoding to dst, the bytes protobuf-go's deterministic Marshal writes.
// size must be Size(req): every caller sizes a request first, to bound it or to get its buffer,
// and the encoder fills exactly that many bytes from the end (see backwardWriter). When dst has
// room for them, Append does not allocate. The request must not change meanwhile.
func Append(dst []byte, req *collectortracepb.ExportTraceServiceRequest, size int) ([]byte, error) {
	if req == nil {
		return dst, errors.New("encode OTLP trace request: the request is nil")
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	w := backwardWriter{buf: dst[start:], pos: size}
	w.traceRequest(req)
	if w.err == nil && w.pos != 0 {
		w.err = errors.New("the request changed while it was being encoded")
	}
	if w.err != nil {
		return dst[:start], fmt.Errorf("encode OTLP trace request: %w", w.err)
	}
	return dst, nil
}

// Field numbers of the OTLP protos (opentelemetry/proto/.../v1/*.proto), by message.
const (
	requestResourceSpans protowire.Number = 1

	resourceSpansResource   protowire.Number = 1
	resourceSpansScopeSpans protowire.Number = 2
	resourceSpansSchemaURL  protowire.Number = 3

	resourceAttributes             protowire.Number = 1
	resourceDroppedAttributesCount protowire.Number = 2
	resourceEntityRefs             protowire.Number = 3

	entityRefSchemaURL       protowire.Number = 1
	entityRefType            protowire.Number = 2
	entityRefIDKeys          protowire.Number = 3
	entityRefDescriptionKeys protowire.Number = 4

	scopeSpansScope     protowire.Number = 1
	scopeSpansSpans     protowire.Number = 2
	scopeSpansSchemaURL protowire.Number = 3

	scopeName                   protowire.Number = 1
	scopeVersion                protowire.Number = 2
	scopeAttributes             protowire.Number = 3
	scopeDroppedAttributesCount protowire.Number = 4

	spanTraceID                protowire.Number = 1
	spanSpanID                 protowire.Number = 2
	spanTraceState             protowire.Number = 3
	spanParentSpanID           protowire.Number = 4
	spanName                   protowire.Number = 5
	spanKind                   protowire.Number = 6
	spanStartTimeUnixNano      protowire.Number = 7
	spanEndTimeUnixNano        protowire.Number = 8
	spanAttributes             protowire.Number = 9
	spanDroppedAttributesCount protowire.Number = 10
	spanEvents                 protowire.Number = 11
	spanDroppedEventsCount     protowire.Number = 12
	spanLinks                  protowire.Number = 13
	spanDroppedLinksCount      protowire.Number = 14
	spanStatus                 protowire.Number = 15
	spanFlags                  protowire.Number = 16

	eventTimeUnixNano           protowire.Number = 1
	eventName                   protowire.Number = 2
	eventAttributes             protowire.Number = 3
	eventDroppedAttributesCount protowire.Number = 4

	linkTraceID                protowire.Number = 1
	linkSpanID                 protowire.Number = 2
	linkTraceState             protowire.Number = 3
	linkAttributes             protowire.Number = 4
	linkDroppedAttributesCount protowire.Number = 5
	linkFlags                  protowire.Number = 6

	statusMessage protowire.Number = 2
	statusCode    protowire.Number = 3

	keyValueKey         protowire.Number = 1
	keyValueValue       protowire.Number = 2
	keyValueKeyStrindex protowire.Number = 3

	anyValueString         protowire.Number = 1
	anyValueBool           protowire.Number = 2
	anyValueInt            protowire.Number = 3
	anyValueDouble         protowire.Number = 4
	anyValueArray          protowire.Number = 5
	anyValueKvlist         protowire.Number = 6
	anyValueBytes          protowire.Number = 7
	anyValueStringStrindex protowire.Number = 8

	arrayValueValues   protowire.Number = 1
	keyValueListValues protowire.Number = 1
)

// The size functions return the encoded length of a message's fields, without its own key and
// length prefix. They follow proto3 as protobuf-go writes it: a singular scalar field is left out
// when it holds its zero value, while a oneof member, a set message field and every element of a
// repeated field are always written, a nil element as an empty message.

func sizeResourceSpans(rs *tracepb.ResourceSpans) int {
	if rs == nil {
		return 0
	}
	n := 0
	if rs.Resource != nil {
		n += sizeLengthPrefixed(resourceSpansResource, sizeResource(rs.Resource))
	}
	for _, ss := range rs.ScopeSpans {
		n += sizeLengthPrefixed(resourceSpansScopeSpans, sizeScopeSpans(ss))
	}
	return n + sizeStringField(resourceSpansSchemaURL, rs.SchemaUrl)
}

func sizeResource(r *resourcepb.Resource) int {
	n := sizeKeyValues(resourceAttributes, r.Attributes) +
		sizeVarintField(resourceDroppedAttributesCount, uint64(r.DroppedAttributesCount))
	for _, ref := range r.EntityRefs {
		n += sizeLengthPrefixed(resourceEntityRefs, sizeEntityRef(ref))
	}
	return n
}

func sizeEntityRef(ref *commonpb.EntityRef) int {
	if ref == nil {
		return 0
	}
	n := sizeStringField(entityRefSchemaURL, ref.SchemaUrl) + sizeStringField(entityRefType, ref.Type)
	for _, key := range ref.IdKeys {
		n += sizeLengthPrefixed(entityRefIDKeys, len(key))
	}
	for _, key := range ref.DescriptionKeys {
		n += sizeLengthPrefixed(entityRefDescriptionKeys, len(key))
	}
	return n
}

func sizeScopeSpans(ss *tracepb.ScopeSpans) int {
	if ss == nil {
		return 0
	}
	n := 0
	if ss.Scope != nil {
		n += sizeLengthPrefixed(scopeSpansScope, sizeScope(ss.Scope))
	}
	for _, span := range ss.Spans {
		n += sizeLengthPrefixed(scopeSpansSpans, sizeSpan(span))
	}
	return n + sizeStringField(scopeSpansSchemaURL, ss.SchemaUrl)
}

func sizeScope(s *commonpb.InstrumentationScope) int {
	return sizeStringField(scopeName, s.Name) +
		sizeStringField(scopeVersion, s.Version) +
		sizeKeyValues(scopeAttributes, s.Attributes) +
		sizeVarintField(scopeDroppedAttributesCount, uint64(s.DroppedAttributesCount))
}

func sizeSpan(s *tracepb.Span) int {
	if s == nil {
		return 0
	}
	n := sizeBytesField(spanTraceID, s.TraceId) +
		sizeBytesField(spanSpanID, s.SpanId) +
		sizeStringField(spanTraceState, s.TraceState) +
		sizeBytesField(spanParentSpanID, s.ParentSpanId) +
		sizeStringField(spanName, s.Name) +
		sizeVarintField(spanKind, uint64(s.Kind)) +
		sizeFixed64Field(spanStartTimeUnixNano, s.StartTimeUnixNano) +
		sizeFixed64Field(spanEndTimeUnixNano, s.EndTimeUnixNano) +
		sizeKeyValues(spanAttributes, s.Attributes) +
		sizeVarintField(spanDroppedAttributesCount, uint64(s.DroppedAttributesCount)) +
		sizeVarintField(spanDroppedEventsCount, uint64(s.DroppedEventsCount)) +
		sizeVarintField(spanDroppedLinksCount, uint64(s.DroppedLinksCount)) +
		sizeFixed32Field(spanFlags, s.Flags)
	for _, event := range s.Events {
		n += sizeLengthPrefixed(spanEvents, sizeEvent(event))
	}
	for _, link := range s.Links {
		n += sizeLengthPrefixed(spanLinks, sizeLink(link))
	}
	if s.Status != nil {
		n += sizeLengthPrefixed(spanStatus, sizeStatus(s.Status))
	}
	return n
}

func sizeEvent(e *tracepb.Span_Event) int {
	if e == nil {
		return 0
	}
	return sizeFixed64Field(eventTimeUnixNano, e.TimeUnixNano) +
		sizeStringField(eventName, e.Name) +
		sizeKeyValues(eventAttributes, e.Attributes) +
		sizeVarintField(eventDroppedAttributesCount, uint64(e.DroppedAttributesCount))
}

func sizeLink(l *tracepb.Span_Link) int {
	if l == nil {
		return 0
	}
	return sizeBytesField(linkTraceID, l.TraceId) +
		sizeBytesField(linkSpanID, l.SpanId) +
		sizeStringField(linkTraceState, l.TraceState) +
		sizeKeyValues(linkAttributes, l.Attributes) +
		sizeVarintField(linkDroppedAttributesCount, uint64(l.DroppedAttributesCount)) +
		sizeFixed32Field(linkFlags, l.Flags)
}

func sizeStatus(s *tracepb.Status) int {
	return sizeStringField(statusMessage, s.Message) + sizeVarintField(statusCode, uint64(s.Code))
}

// sizeKeyValues sizes a repeated KeyValue field: attributes, and the values of a KeyValueList.
func sizeKeyValues(num protowire.Number, kvs []*commonpb.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += sizeLengthPrefixed(num, sizeKeyValue(kv))
	}
	return n
}

func sizeKeyValue(kv *commonpb.KeyValue) int {
	if kv == nil {
		return 0
	}
	n := sizeStringField(keyValueKey, kv.Key) + sizeVarintField(keyValueKeyStrindex, uint64(kv.KeyStrindex))
	if kv.Value != nil {
		n += sizeLengthPrefixed(keyValueValue, sizeAnyValue(kv.Value))
	}
	return n
}

func sizeAnyValue(a *commonpb.AnyValue) int {
	switch v := a.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		if v != nil {
			return sizeLengthPrefixed(anyValueString, len(v.StringValue))
		}
	case *commonpb.AnyValue_BoolValue:
		if v != nil {
			return protowire.SizeTag(anyValueBool) + 1
		}
	case *commonpb.AnyValue_IntValue:
		if v != nil {
			return protowire.SizeTag(anyValueInt) + protowire.SizeVarint(uint64(v.IntValue))
		}
	case *commonpb.AnyValue_DoubleValue:
		if v != nil {
			return protowire.SizeTag(anyValueDouble) + protowire.SizeFixed64()
		}
	case *commonpb.AnyValue_ArrayValue:
		if v != nil {
			n := 0
			for _, value := range v.ArrayValue.GetValues() {
				n += sizeLengthPrefixed(arrayValueValues, sizeAnyValue(value))
			}
			return sizeLengthPrefixed(anyValueArray, n)
		}
	case *commonpb.AnyValue_KvlistValue:
		if v != nil {
			return sizeLengthPrefixed(anyValueKvlist, sizeKeyValues(keyValueListValues, v.KvlistValue.GetValues()))
		}
	case *commonpb.AnyValue_BytesValue:
		if v != nil {
			return sizeLengthPrefixed(anyValueBytes, len(v.BytesValue))
		}
	case *commonpb.AnyValue_StringValueStrindex:
		if v != nil {
			return protowire.SizeTag(anyValueStringStrindex) + protowire.SizeVarint(uint64(v.StringValueStrindex))
		}
	}
	return 0 // no value, or a variant backwardWriter.anyValue reports as an error
}

// sizeLengthPrefixed sizes a field of n bytes after its key and length: a string, bytes or an
// embedded message.
func sizeLengthPrefixed(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func sizeStringField(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return sizeLengthPrefixed(num, len(s))
}

func sizeBytesField(num protowire.Number, b []byte) int {
	if len(b) == 0 {
		return 0
	}
	return sizeLengthPrefixed(num, len(b))
}

func sizeVarintField(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeFixed64Field(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeFixed64()
}

func sizeFixed32Field(num protowire.Number, v uint32) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeFixed32()
}

// backwardWriter encodes into buf from its end towards its start, so each message's length is
// known, from what was just written, when its prefix goes in: a single pass writes nested
// messages without sizing any of them again (upb's encoder works the same way). Fields and
// repeated elements are therefore written last first. buf must be exactly the size the size
// functions give, and the request must not change meanwhile (protobuf-go asks the same).
type backwardWriter struct {
	buf []byte
	pos int   // buf[pos:] is written
	err error // the first reason the output is unusable
}

func (w *backwardWriter) traceRequest(r *collectortracepb.ExportTraceServiceRequest) {
	for i := len(r.ResourceSpans) - 1; i >= 0; i-- {
		end := w.pos
		w.resourceSpans(r.ResourceSpans[i])
		w.lengthPrefix(requestResourceSpans, end)
	}
}

func (w *backwardWriter) resourceSpans(rs *tracepb.ResourceSpans) {
	if rs == nil {
		return
	}
	w.stringField(resourceSpansSchemaURL, rs.SchemaUrl)
	for i := len(rs.ScopeSpans) - 1; i >= 0; i-- {
		end := w.pos
		w.scopeSpans(rs.ScopeSpans[i])
		w.lengthPrefix(resourceSpansScopeSpans, end)
	}
	if rs.Resource != nil {
		end := w.pos
		w.resource(rs.Resource)
		w.lengthPrefix(resourceSpansResource, end)
	}
}

func (w *backwardWriter) resource(r *resourcepb.Resource) {
	for i := len(r.EntityRefs) - 1; i >= 0; i-- {
		end := w.pos
		w.entityRef(r.EntityRefs[i])
		w.lengthPrefix(resourceEntityRefs, end)
	}
	w.varintField(resourceDroppedAttributesCount, uint64(r.DroppedAttributesCount))
	w.keyValues(resourceAttributes, r.Attributes)
}

func (w *backwardWriter) entityRef(ref *commonpb.EntityRef) {
	if ref == nil {
		return
	}
	for i := len(ref.DescriptionKeys) - 1; i >= 0; i-- {
		w.string(entityRefDescriptionKeys, ref.DescriptionKeys[i])
	}
	for i := len(ref.IdKeys) - 1; i >= 0; i-- {
		w.string(entityRefIDKeys, ref.IdKeys[i])
	}
	w.stringField(entityRefType, ref.Type)
	w.stringField(entityRefSchemaURL, ref.SchemaUrl)
}

func (w *backwardWriter) scopeSpans(ss *tracepb.ScopeSpans) {
	if ss == nil {
		return
	}
	w.stringField(scopeSpansSchemaURL, ss.SchemaUrl)
	for i := len(ss.Spans) - 1; i >= 0; i-- {
		end := w.pos
		w.span(ss.Spans[i])
		w.lengthPrefix(scopeSpansSpans, end)
	}
	if ss.Scope != nil {
		end := w.pos
		w.scope(ss.Scope)
		w.lengthPrefix(scopeSpansScope, end)
	}
}

func (w *backwardWriter) scope(s *commonpb.InstrumentationScope) {
	w.varintField(scopeDroppedAttributesCount, uint64(s.DroppedAttributesCount))
	w.keyValues(scopeAttributes, s.Attributes)
	w.stringField(scopeVersion, s.Version)
	w.stringField(scopeName, s.Name)
}

func (w *backwardWriter) span(s *tracepb.Span) {
	if s == nil {
		return
	}
	w.fixed32Field(spanFlags, s.Flags)
	if s.Status != nil {
		end := w.pos
		w.status(s.Status)
		w.lengthPrefix(spanStatus, end)
	}
	w.varintField(spanDroppedLinksCount, uint64(s.DroppedLinksCount))
	for i := len(s.Links) - 1; i >= 0; i-- {
		end := w.pos
		w.link(s.Links[i])
		w.lengthPrefix(spanLinks, end)
	}
	w.varintField(spanDroppedEventsCount, uint64(s.DroppedEventsCount))
	for i := len(s.Events) - 1; i >= 0; i-- {
		end := w.pos
		w.event(s.Events[i])
		w.lengthPrefix(spanEvents, end)
	}
	w.varintField(spanDroppedAttributesCount, uint64(s.DroppedAttributesCount))
	w.keyValues(spanAttributes, s.Attributes)
	w.fixed64Field(spanEndTimeUnixNano, s.EndTimeUnixNano)
	w.fixed64Field(spanStartTimeUnixNano, s.StartTimeUnixNano)
	w.varintField(spanKind, uint64(s.Kind))
	w.stringField(spanName, s.Name)
	w.bytesField(spanParentSpanID, s.ParentSpanId)
	w.stringField(spanTraceState, s.TraceState)
	w.bytesField(spanSpanID, s.SpanId)
	w.bytesField(spanTraceID, s.TraceId)
}

func (w *backwardWriter) event(e *tracepb.Span_Event) {
	if e == nil {
		return
	}
	w.varintField(eventDroppedAttributesCount, uint64(e.DroppedAttributesCount))
	w.keyValues(eventAttributes, e.Attributes)
	w.stringField(eventName, e.Name)
	w.fixed64Field(eventTimeUnixNano, e.TimeUnixNano)
}

func (w *backwardWriter) link(l *tracepb.Span_Link) {
	if l == nil {
		return
	}
	w.fixed32Field(linkFlags, l.Flags)
	w.varintField(linkDroppedAttributesCount, uint64(l.DroppedAttributesCount))
	w.keyValues(linkAttributes, l.Attributes)
	w.stringField(linkTraceState, l.TraceState)
	w.bytesField(linkSpanID, l.SpanId)
	w.bytesField(linkTraceID, l.TraceId)
}

func (w *backwardWriter) status(s *tracepb.Status) {
	w.varintField(statusCode, uint64(s.Code))
	w.stringField(statusMessage, s.Message)
}

func (w *backwardWriter) keyValues(num protowire.Number, kvs []*commonpb.KeyValue) {
	for i := len(kvs) - 1; i >= 0; i-- {
		end := w.pos
		w.keyValue(kvs[i])
		w.lengthPrefix(num, end)
	}
}

func (w *backwardWriter) keyValue(kv *commonpb.KeyValue) {
	if kv == nil {
		return
	}
	w.varintField(keyValueKeyStrindex, uint64(kv.KeyStrindex))
	if kv.Value != nil {
		end := w.pos
		w.anyValue(kv.Value)
		w.lengthPrefix(keyValueValue, end)
	}
	w.stringField(keyValueKey, kv.Key)
}

func (w *backwardWriter) anyValue(a *commonpb.AnyValue) {
	switch v := a.GetValue().(type) {
	case nil:
	case *commonpb.AnyValue_StringValue:
		if v != nil {
			w.string(anyValueString, v.StringValue)
		}
	case *commonpb.AnyValue_BoolValue:
		if v != nil {
			var b uint64
			if v.BoolValue {
				b = 1
			}
			w.varint(anyValueBool, b)
		}
	case *commonpb.AnyValue_IntValue:
		if v != nil {
			w.varint(anyValueInt, uint64(v.IntValue))
		}
	case *commonpb.AnyValue_DoubleValue:
		if v != nil {
			w.fixed64(anyValueDouble, math.Float64bits(v.DoubleValue))
		}
	case *commonpb.AnyValue_ArrayValue:
		if v != nil {
			end := w.pos
			values := v.ArrayValue.GetValues()
			for i := len(values) - 1; i >= 0; i-- {
				valueEnd := w.pos
				w.anyValue(values[i])
				w.lengthPrefix(arrayValueValues, valueEnd)
			}
			w.lengthPrefix(anyValueArray, end)
		}
	case *commonpb.AnyValue_KvlistValue:
		if v != nil {
			end := w.pos
			w.keyValues(keyValueListValues, v.KvlistValue.GetValues())
			w.lengthPrefix(anyValueKvlist, end)
		}
	case *commonpb.AnyValue_BytesValue:
		if v != nil {
			w.bytes(anyValueBytes, v.BytesValue)
		}
	case *commonpb.AnyValue_StringValueStrindex:
		if v != nil {
			w.varint(anyValueStringStrindex, uint64(v.StringValueStrindex))
		}
	default:
		// A variant added by a newer OTLP proto: failing beats sending the attribute empty.
		w.fail(fmt.Errorf("AnyValue holds a %T, which the encoder does not know", v))
	}
}

func (w *backwardWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// lengthPrefix completes a string, bytes or embedded message field whose content spans from the
// write position to end, by writing its length and key in front of it.
func (w *backwardWriter) lengthPrefix(num protowire.Number, end int) {
	length, key := uint64(end-w.pos), protowire.EncodeTag(num, protowire.BytesType)
	if length < 0x80 && key < 0x80 { // the common case, in one step
		w.pos -= 2
		b := w.buf[w.pos : w.pos+2]
		b[0], b[1] = byte(key), byte(length)
		return
	}
	w.rawVarint(length)
	w.rawVarint(key)
}

// The field writers below write a field's value, then its key in front of it. Those named
// ...Field leave a zero value out, as proto3 does for singular fields without presence.

func (w *backwardWriter) string(num protowire.Number, s string) {
	if !utf8.ValidString(s) {
		// protobuf-go refuses to marshal such a string, and receivers to unmarshal one.
		w.fail(fmt.Errorf("string %q is not valid UTF-8", s))
	}
	end := w.pos
	w.pos -= len(s)
	copy(w.buf[w.pos:end], s)
	w.lengthPrefix(num, end)
}

func (w *backwardWriter) stringField(num protowire.Number, s string) {
	if s != "" {
		w.string(num, s)
	}
}

func (w *backwardWriter) bytes(num protowire.Number, b []byte) {
	end := w.pos
	w.pos -= len(b)
	copy(w.buf[w.pos:end], b)
	w.lengthPrefix(num, end)
}

func (w *backwardWriter) bytesField(num protowire.Number, b []byte) {
	if len(b) != 0 {
		w.bytes(num, b)
	}
}

func (w *backwardWriter) varint(num protowire.Number, v uint64) {
	w.rawVarint(v)
	w.rawVarint(protowire.EncodeTag(num, protowire.VarintType))
}

func (w *backwardWriter) varintField(num protowire.Number, v uint64) {
	if v != 0 {
		w.varint(num, v)
	}
}

func (w *backwardWriter) fixed64(num protowire.Number, v uint64) {
	w.pos -= 8
	binary.LittleEndian.PutUint64(w.buf[w.pos:], v)
	w.rawVarint(protowire.EncodeTag(num, protowire.Fixed64Type))
}

func (w *backwardWriter) fixed64Field(num protowire.Number, v uint64) {
	if v != 0 {
		w.fixed64(num, v)
	}
}

func (w *backwardWriter) fixed32Field(num protowire.Number, v uint32) {
	if v != 0 {
		w.pos -= 4
		binary.LittleEndian.PutUint32(w.buf[w.pos:], v)
		w.rawVarint(protowire.EncodeTag(num, protowire.Fixed32Type))
	}
}

// rawVarint writes v in protobuf's base-128 varint form: negative int32 and int64 values, sign
// extended to 64 bits, take ten bytes.
func (w *backwardWriter) rawVarint(v uint64) {
	if v < 0x80 { // the key of fields 1 to 15, and most lengths
		w.pos--
		w.buf[w.pos] = byte(v)
		return
	}
	n := protowire.SizeVarint(v)
	w.pos -= n
	b := w.buf[w.pos : w.pos+n]
	for i := range n - 1 {
		b[i] = byte(v) | 0x80
		v >>= 7
	}
	b[n-1] = byte(v)
}
