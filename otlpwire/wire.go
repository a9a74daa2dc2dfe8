package otlpwire

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"
)

// The keys of the OTLP fields kretspan writes (field number << 3 | wire type), by message, from
// opentelemetry/proto/.../v1/*.proto. Every field number is below 16, so each key is one byte.
const (
	RequestResourceSpans = byte(1<<3 | protowire.BytesType)

	ResourceSpansResource   = byte(1<<3 | protowire.BytesType)
	ResourceSpansScopeSpans = byte(2<<3 | protowire.BytesType)

	ScopeSpansScope = byte(1<<3 | protowire.BytesType)
	ScopeSpansSpan  = byte(2<<3 | protowire.BytesType)

	SpanTraceID           = byte(1<<3 | protowire.BytesType)
	SpanSpanID            = byte(2<<3 | protowire.BytesType)
	SpanParentSpanID      = byte(4<<3 | protowire.BytesType)
	SpanName              = byte(5<<3 | protowire.BytesType)
	SpanKind              = byte(6<<3 | protowire.VarintType)
	SpanStartTimeUnixNano = byte(7<<3 | protowire.Fixed64Type)
	SpanEndTimeUnixNano   = byte(8<<3 | protowire.Fixed64Type)
	SpanAttribute         = byte(9<<3 | protowire.BytesType)
	SpanEvent             = byte(11<<3 | protowire.BytesType)
	SpanLink              = byte(13<<3 | protowire.BytesType)
	SpanStatus            = byte(15<<3 | protowire.BytesType)

	EventTimeUnixNano = byte(1<<3 | protowire.Fixed64Type)
	EventName         = byte(2<<3 | protowire.BytesType)
	EventAttribute    = byte(3<<3 | protowire.BytesType)

	LinkTraceID   = byte(1<<3 | protowire.BytesType)
	LinkSpanID    = byte(2<<3 | protowire.BytesType)
	LinkAttribute = byte(4<<3 | protowire.BytesType)

	StatusMessage = byte(2<<3 | protowire.BytesType)
	StatusCode    = byte(3<<3 | protowire.VarintType)

	keyValueKey   = byte(1<<3 | protowire.BytesType)
	keyValueValue = byte(2<<3 | protowire.BytesType)

	anyValueString = byte(1<<3 | protowire.BytesType)
	anyValueBool   = byte(2<<3 | protowire.VarintType)
	anyValueInt    = byte(3<<3 | protowire.VarintType)
)

// AppendBytes appends a bytes, string or embedded message field: its key, length and content.
func AppendBytes(dst []byte, key byte, content []byte) []byte {
	dst = append(dst, key)
	dst = protowire.AppendVarint(dst, uint64(len(content)))
	return append(dst, content...)
}

// AppendString is AppendBytes for a string.
func AppendString(dst []byte, key byte, s string) []byte {
	dst = append(dst, key)
	dst = protowire.AppendVarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendVarint appends a varint field; proto3 leaves a zero out.
func AppendVarint(dst []byte, key byte, v uint64) []byte {
	if v == 0 {
		return dst
	}
	return protowire.AppendVarint(append(dst, key), v)
}

// AppendFixed64 appends a fixed64 field; proto3 leaves a zero out.
func AppendFixed64(dst []byte, key byte, v uint64) []byte {
	if v == 0 {
		return dst
	}
	return binary.LittleEndian.AppendUint64(append(dst, key), v)
}

// AppendSpanID appends a span id field, big-endian as W3C trace context writes it. An id is a
// bytes field, written whatever its value.
func AppendSpanID(dst []byte, key byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, key, 8), id)
}

// Key is an attribute's key, encoded once as the key field of its KeyValue.
type Key []byte

// NewKey encodes key. It must be valid UTF-8, as every OTLP string.
func NewKey(key string) Key { return AppendString(nil, keyValueKey, key) }

// IntAttribute is an attribute of int values, encoded up to the value's varint once for each
// length the varint may take.
type IntAttribute [1 + binary.MaxVarintLen64][]byte

// NewIntAttribute encodes the attribute field (KeyValue) of key, in a message's field.
func NewIntAttribute(field byte, key Key) *IntAttribute {
	a := &IntAttribute{}
	for n := 1; n < len(a); n++ {
		a[n] = append(appendKeyValueHead(nil, field, key, 1+n), anyValueInt) // AnyValue: int_value's key and varint
	}
	return a
}

// Append appends the attribute field of value v.
func (a *IntAttribute) Append(dst []byte, v int64) []byte {
	dst = append(dst, a[protowire.SizeVarint(uint64(v))]...)
	return protowire.AppendVarint(dst, uint64(v))
}

// AppendStringAttribute appends an attribute field (KeyValue) of a string value, which must be
// valid UTF-8.
func AppendStringAttribute(dst []byte, field byte, key Key, s string) []byte {
	value := 1 + protowire.SizeBytes(len(s)) // AnyValue: string_value's key, length and bytes
	dst = appendKeyValueHead(dst, field, key, value)
	return AppendString(dst, anyValueString, s)
}

// AppendBoolAttribute appends an attribute field (KeyValue) of a bool value. A oneof's member is
// written even when false.
func AppendBoolAttribute(dst []byte, field byte, key Key, b bool) []byte {
	dst = appendKeyValueHead(dst, field, key, 2)
	if b {
		return append(dst, anyValueBool, 1)
	}
	return append(dst, anyValueBool, 0)
}

// appendKeyValueHead writes a KeyValue up to its value's content, which is value bytes long.
func appendKeyValueHead(dst []byte, field byte, key Key, value int) []byte {
	dst = append(dst, field)
	dst = protowire.AppendVarint(dst, uint64(len(key)+1+protowire.SizeBytes(value)))
	dst = append(dst, key...)
	return protowire.AppendVarint(append(dst, keyValueValue), uint64(value))
}

// lengthRoom is the room OpenMessage leaves for a message's length: two bytes hold lengths up
// to 16383, which a span's encoding nearly always is.
const lengthRoom = 2

// OpenMessage starts an embedded message field whose length is not known yet: it appends the
// key and room for the length. CloseMessage completes it, given the returned mark.
func OpenMessage(dst []byte, key byte) (_ []byte, mark int) {
	dst = append(dst, key)
	return append(dst, make([]byte, lengthRoom)...), len(dst)
}

// CloseMessage writes the length of the message opened at mark, which ends at the end of dst.
// A length that needs more or fewer bytes than the room left moves the message.
func CloseMessage(dst []byte, mark int) []byte {
	n := len(dst) - mark - lengthRoom
	if size := protowire.SizeVarint(uint64(n)); size != lengthRoom {
		body := mark + lengthRoom
		if size > lengthRoom {
			dst = append(dst, make([]byte, size-lengthRoom)...)
		}
		copy(dst[mark+size:], dst[body:body+n])
		dst = dst[:mark+size+n]
	}
	protowire.AppendVarint(dst[:mark], uint64(n)) // in place: the room is there
	return dst
}
