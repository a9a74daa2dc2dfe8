package otlpwire

import (
	"bytes"
	"math"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// marshal is protobuf-go's deterministic encoding of m.
func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAttributesEncodeLikeProtobuf(t *testing.T) {
	for _, key := range []string{"k", "process.pid", strings.Repeat("k", 200)} {
		ints := NewIntAttribute(SpanAttribute, NewKey(key))
		for _, v := range []int64{0, 1, 127, 128, 1 << 35, -1, math.MinInt64, math.MaxInt64} {
			want := marshal(t, &tracepb.Span{Attributes: []*commonpb.KeyValue{{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}}})
			if got := ints.Append(nil, v); !bytes.Equal(got, want) {
				t.Errorf("%s=%d: %x, want %x", key, v, got, want)
			}
		}
		for _, v := range []string{"", "x", "naïve", strings.Repeat("v", 300)} {
			want := marshal(t, &tracepb.Span{Attributes: []*commonpb.KeyValue{{Key: key, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}}})
			if got := AppendStringAttribute(nil, SpanAttribute, NewKey(key), v); !bytes.Equal(got, want) {
				t.Errorf("%s=%q: %x, want %x", key, v, got, want)
			}
		}
	}
}

// Scalars are left out at zero, as proto3 does for fields without presence.
func TestScalarFields(t *testing.T) {
	for _, v := range []uint64{0, 1, 1 << 40, math.MaxUint64} {
		want := marshal(t, &tracepb.Span{Kind: tracepb.Span_SpanKind(int32(v)), StartTimeUnixNano: v})
		got := AppendFixed64(AppendVarint(nil, SpanKind, uint64(int64(int32(v)))), SpanStartTimeUnixNano, v)
		if !bytes.Equal(got, want) {
			t.Errorf("%d: %x, want %x", v, got, want)
		}
	}
	want := marshal(t, &tracepb.Span{SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Name: "n"})
	if got := AppendString(AppendSpanID(nil, SpanSpanID, 0x0102030405060708), SpanName, "n"); !bytes.Equal(got, want) {
		t.Errorf("%x, want %x", got, want)
	}
}

// A message of any length ends up with its length in as many bytes as it takes.
func TestOpenAndCloseMessage(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 1 << 21, 1<<21 + 1} {
		content := bytes.Repeat([]byte{0xab}, n)
		dst, mark := OpenMessage([]byte("prefix"), SpanLink)
		dst = CloseMessage(append(dst, content...), mark)
		want := protowire.AppendBytes(protowire.AppendTag([]byte("prefix"), 13, protowire.BytesType), content)
		if !bytes.Equal(dst, want) {
			t.Errorf("a message of %d bytes: %d bytes written, want %d", n, len(dst), len(want))
		}
	}
}
