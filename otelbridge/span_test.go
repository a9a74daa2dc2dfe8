package otelbridge

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/probe"
)

// fixedClock converts monotonic to Unix time with a known offset and never resyncs.
func fixedClock(offset int64) *WallClock {
	const mono = 1_000_000
	return NewWallClock(Clocks{Monotonic: func() int64 { return mono }, Realtime: func() int64 { return mono + offset }})
}

func attrs(span *tracepb.Span) map[string]any {
	m := map[string]any{}
	for _, kv := range span.Attributes {
		if _, dup := m[kv.Key]; dup {
			m[kv.Key+"#dup"] = true
		}
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		default:
			m[kv.Key] = fmt.Sprintf("unexpected %T", v)
		}
	}
	return m
}

func TestBuildSpan(t *testing.T) {
	const offset = int64(1_700_000_000_000_000_000)
	clock := fixedClock(offset)
	info := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	event := spantest.Event(1, 3, "cat")
	span := buildSpan(t, &event, &info, clock, "cat")

	wantTrace := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if !bytes.Equal(span.TraceId, wantTrace) {
		t.Errorf("trace id %x, want %x", span.TraceId, wantTrace)
	}
	if want := []byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}; !bytes.Equal(span.SpanId, want) {
		t.Errorf("span id %x, want %x (big-endian)", span.SpanId, want)
	}
	if want := []byte{0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01}; !bytes.Equal(span.ParentSpanId, want) {
		t.Errorf("parent span id %x, want %x (big-endian)", span.ParentSpanId, want)
	}
	if span.Name != "openat" || span.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("name %q kind %v", span.Name, span.Kind)
	}
	if span.StartTimeUnixNano != uint64(5_000_000_000+offset) || span.EndTimeUnixNano != uint64(5_000_123_456+offset) {
		t.Errorf("times %d..%d", span.StartTimeUnixNano, span.EndTimeUnixNano)
	}
	if span.Status != nil {
		t.Errorf("status %v for a successful call", span.Status)
	}
	want := map[string]any{
		AttrReturnValue:         int64(3),
		"process.pid":           int64(1234),
		"thread.id":             int64(1240),
		"thread.name":           "cat",
		"cpu.logical_number":    int64(6),
		"kretspan.probe.kind":   "syscall",
		"kretspan.probe.target": "syscall:openat",
	}
	if got := attrs(span); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("attributes\n got %v\nwant %v", got, want)
	}
}

func TestBuildSpanRootHasNoParent(t *testing.T) {
	info := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	event := spantest.Event(1, 0, "x")
	event.ParentSpanId = 0
	span := buildSpan(t, &event, &info, fixedClock(0), "x")
	if span.ParentSpanId != nil {
		t.Errorf("root span has parent %x", span.ParentSpanId)
	}
}

func TestBuildSpanErrno(t *testing.T) {
	clock := fixedClock(0)
	kernelInfo := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	userInfo := NewProbeInfo(spantest.UprobeTarget, errno.DefaultSet())

	event := spantest.Event(1, -2, "cat")
	span := buildSpan(t, &event, &kernelInfo, clock, "cat")
	a := attrs(span)
	if a[AttrErrorType] != "ENOENT" || a["error.type"] != "ENOENT" || a[AttrErrno] != "ENOENT" {
		t.Errorf("error.type = %v, kretspan.errno = %v, want ENOENT", a[AttrErrorType], a[AttrErrno])
	}
	if a[AttrReturnValue] != int64(-2) {
		t.Errorf("return value %v", a[AttrReturnValue])
	}
	if span.Status == nil || span.Status.Code != tracepb.Status_STATUS_CODE_ERROR {
		t.Fatalf("status %v, want ERROR", span.Status)
	}
	if !strings.Contains(span.Status.Message, "no such file or directory") || !strings.Contains(span.Status.Message, "ENOENT") {
		t.Errorf("status message %q", span.Status.Message)
	}
	// The 7 of a success, and kretspan.errno and error.type.
	if len(span.Attributes) != 9 {
		t.Errorf("%d attributes, want 9: %v", len(span.Attributes), a)
	}

	// A success of the same probe has no error.
	event = spantest.Event(1, 0, "cat")
	span = buildSpan(t, &event, &kernelInfo, clock, "cat")
	if _, ok := attrs(span)[AttrErrno]; ok || span.Status != nil {
		t.Errorf("stale error after reuse: attrs %v status %v", attrs(span), span.Status)
	}
	if len(span.Attributes) != 7 {
		t.Errorf("%d attributes after reuse, want 7", len(span.Attributes))
	}

	// The same return from a user-space function is just a number.
	event = spantest.Event(2, -2, "app")
	span = buildSpan(t, &event, &userInfo, clock, "app")
	a = attrs(span)
	if _, ok := a[AttrErrno]; ok || span.Status != nil {
		t.Errorf("uprobe -2 marked as an errno: attrs %v status %v", a, span.Status)
	}
	if a[AttrProbeKind] != "uprobe" || a[AttrProbeTarget] != "uprobe:/usr/bin/app:main.handle" || a[AttrReturnValue] != int64(-2) {
		t.Errorf("uprobe attributes %v", a)
	}
	if span.Name != "main.handle" {
		t.Errorf("name %q", span.Name)
	}

	// Out of the errno range: no error.
	for _, ret := range []int64{-4096, -1 << 40, 1} {
		event = spantest.Event(1, ret, "cat")
		if span := buildSpan(t, &event, &kernelInfo, clock, "cat"); span.Status != nil || len(span.Attributes) != 7 {
			t.Errorf("ret %d: status %v attributes %v", ret, span.Status, attrs(span))
		}
	}
	// A 32-bit return sign-extended by the BPF side: -EINTR.
	event = spantest.Event(1, -4, "cat")
	if span := buildSpan(t, &event, &kernelInfo, clock, "cat"); attrs(span)[AttrErrorType] != "EINTR" {
		t.Errorf("-4: %v", attrs(span))
	}
}

// Errnos that are outcomes keep their name but are no failures: a non-blocking call that would
// block, one under way, a syscall the kernel restarts.
func TestBuildSpanNotFailures(t *testing.T) {
	kernelInfo := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	userInfo := NewProbeInfo(spantest.UprobeTarget, errno.DefaultSet())
	for _, tc := range []struct {
		info    *ProbeInfo
		ret     int64
		errno   string // kretspan.errno, "" for none
		failure bool   // status Error and error.type
	}{
		{&kernelInfo, -11, "EAGAIN", false},
		{&kernelInfo, -115, "EINPROGRESS", false},
		{&kernelInfo, -512, "ERESTARTSYS", false},
		{&kernelInfo, -2, "ENOENT", true},
		{&userInfo, -11, "", false},
		{&userInfo, -2, "", false},
	} {
		event := spantest.Event(1, tc.ret, "cat")
		span := buildSpan(t, &event, tc.info, fixedClock(0), "cat")
		a := attrs(span)
		name, hasErrno := a[AttrErrno]
		errorType, hasErrorType := a[AttrErrorType]
		if (tc.errno != "") != hasErrno || (hasErrno && name != tc.errno) {
			t.Errorf("%s ret %d: kretspan.errno %v, want %q", spanName(t, tc.info), tc.ret, name, tc.errno)
		}
		if failed := span.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR; failed != tc.failure || hasErrorType != tc.failure {
			t.Errorf("%s ret %d: status %v, error.type %v; want a failure: %v", spanName(t, tc.info), tc.ret, span.Status, errorType, tc.failure)
		}
		if tc.failure && (errorType != tc.errno || span.Status.Message != errno.Message(tc.ret)) {
			t.Errorf("%s ret %d: error.type %v, status message %q", spanName(t, tc.info), tc.ret, errorType, span.Status.Message)
		}
	}

	// With no outcomes listed, every errno is a failure, the kernel's own restart codes too.
	strict := NewProbeInfo(spantest.SyscallTarget, nil)
	event := spantest.Event(1, -512, "cat")
	span := buildSpan(t, &event, &strict, fixedClock(0), "cat")
	if a := attrs(span); span.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || a[AttrErrorType] != "ERESTARTSYS" || a[AttrErrno] != "ERESTARTSYS" {
		t.Errorf("ret -512 with no outcomes listed: status %v attributes %v", span.Status, a)
	}
}

func TestNewProbeInfo(t *testing.T) {
	info := NewProbeInfo(probe.Target{Kind: probe.KindFentry, Name: "vfs_read", ReturnsErrno: true}, errno.DefaultSet())
	if !info.ReturnsErrno {
		t.Errorf("info %+v", info)
	}
	event := spantest.Event(1, 0, "cat")
	span := buildSpan(t, &event, &info, fixedClock(0), "cat")
	if span.Name != "vfs_read" || span.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("name %q kind %v", span.Name, span.Kind)
	}
	// The per-probe attributes come last.
	n := len(span.Attributes)
	if n < 2 || span.Attributes[n-2].Key != AttrProbeKind || span.Attributes[n-2].Value.GetStringValue() != "fentry" ||
		span.Attributes[n-1].Key != AttrProbeTarget || span.Attributes[n-1].Value.GetStringValue() != "fentry:vfs_read" {
		t.Errorf("attributes %v", span.Attributes)
	}
}

func TestCommInterner(t *testing.T) {
	c := newCommInterner()
	// name decodes an interned thread.name attribute.
	name := func(attribute []byte) string {
		t.Helper()
		_, _, n := protowire.ConsumeTag(attribute)
		kv, m := protowire.ConsumeBytes(attribute[max(n, 0):])
		var decoded commonpb.KeyValue
		if n < 0 || m < 0 || proto.Unmarshal(kv, &decoded) != nil || decoded.Key != AttrThreadName {
			t.Fatalf("not a thread.name attribute: %x", attribute)
		}
		return decoded.Value.GetStringValue()
	}
	var a, b [16]byte
	copy(a[:], "bash")
	copy(b[:], "bash")
	s1, s2 := c.intern(&a), c.intern(&b)
	if name(s1) != "bash" || name(s2) != "bash" {
		t.Fatalf("interned %q %q", name(s1), name(s2))
	}
	if &s1[0] != &s2[0] {
		t.Error("the same comm interned twice gave two encodings")
	}
	if n := testing.AllocsPerRun(100, func() { c.intern(&a) }); n != 0 {
		t.Errorf("interning a known comm allocates %v times", n)
	}
	// A full 16-byte comm with no NUL (the kernel always has one, but never trust a record).
	var full [16]byte
	copy(full[:], "0123456789abcdef")
	if got := name(c.intern(&full)); got != "0123456789abcdef" {
		t.Errorf("full comm %q", got)
	}
	// Bytes after the NUL make a different key but the same text.
	var junk [16]byte
	copy(junk[:], "bash\x00zz")
	if got := name(c.intern(&junk)); got != "bash" {
		t.Errorf("comm with junk after NUL = %q", got)
	}
	var empty [16]byte
	if got := name(c.intern(&empty)); got != "" {
		t.Errorf("empty comm %q", got)
	}
	// prctl(PR_SET_NAME) takes any bytes; OTLP refuses a batch with invalid UTF-8.
	var unnamed [16]byte
	copy(unnamed[:], "w\xff\xfeker")
	if got := name(c.intern(&unnamed)); got != "w\uFFFDker" {
		t.Errorf("comm with invalid UTF-8 = %q, want it replaced", got)
	}

	// Bounded: many distinct comms never grow it past the limit.
	for i := range maxInternedComms*2 + 5 {
		var comm [16]byte
		binary.LittleEndian.PutUint64(comm[:], uint64(i)+1)
		c.intern(&comm)
		if len(c.all) > maxInternedComms {
			t.Fatalf("interner holds %d comms, limit %d", len(c.all), maxInternedComms)
		}
	}
	if got := name(c.intern(&a)); got != "bash" {
		t.Errorf("after a reset, %q", got)
	}
}

// Every attribute key constant has its row in spanAttributes (or is a link's), so that a key is
// never declared and then forgotten; read from the source, since Go cannot list a package's
// constants.
func TestEveryAttributeKeyHasARow(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "span.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	used := map[string]bool{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gen.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok {
				continue
			}
			for i, name := range vs.Names {
				switch {
				case gen.Tok == token.CONST && strings.HasPrefix(name.Name, "Attr"):
					keys = append(keys, name.Name)
				case name.Name == "spanAttributes" || name.Name == "outsideWindowLinkAttribute":
					ast.Inspect(vs.Values[i], func(n ast.Node) bool {
						if id, ok := n.(*ast.Ident); ok {
							used[id.Name] = true
						}
						return true
					})
				}
			}
		}
	}
	if len(keys) < len(spanAttributes) {
		t.Fatalf("found %d attribute keys in span.go, fewer than the table's %d rows", len(keys), len(spanAttributes))
	}
	for _, key := range keys {
		if !used[key] {
			t.Errorf("%s has no row in spanAttributes", key)
		}
	}
}

// Each row has a key of its own, each source one row, and a span carries every attribute whose
// source has a value.
func TestSpanAttributeRows(t *testing.T) {
	keys := map[string]bool{}
	sources := map[valueSource]bool{}
	for _, row := range spanAttributes {
		if row.key == "" || keys[row.key] || row.source >= valueSources || sources[row.source] {
			t.Errorf("row %q source %d: empty, unknown or seen before", row.key, row.source)
		}
		keys[row.key], sources[row.source] = true, true
	}
	if len(sources) != int(valueSources) {
		t.Errorf("%d of the %d sources have a row", len(sources), valueSources)
	}
	info := NewProbeInfo(spantest.SyscallTarget, errno.DefaultSet())
	event := spantest.Event(1, -2, "cat")
	got := attrs(buildSpan(t, &event, &info, fixedClock(0), "cat"))
	if len(got) != len(spanAttributes) {
		t.Errorf("an errno span has attributes %v, want one for each of the %d rows", got, len(spanAttributes))
	}
	for _, row := range spanAttributes {
		if _, ok := got[row.key]; !ok {
			t.Errorf("no %s on an errno span", row.key)
		}
	}
}

// A binary path or symbol with bytes that are not UTF-8 must not make every request of its probe
// fail: receivers refuse a whole request over one such string.
func TestProbeInfoFromANonUTF8PathEncodes(t *testing.T) {
	target := probe.Target{ID: 1, Kind: probe.KindUprobe, Binary: "/opt/\xffapp", Name: "handle\xfe"}
	info := NewProbeInfo(target, errno.DefaultSet())
	event := spantest.Event(1, 0, "app")
	span := buildSpan(t, &event, &info, fixedClock(0), "app") // decodes, so checks UTF-8
	if span.Name != "handle\uFFFD" {
		t.Errorf("span name %q, want the invalid byte replaced", span.Name)
	}
	if got := attrs(span)[AttrProbeTarget]; got != "uprobe:/opt/\uFFFDapp:handle\uFFFD" {
		t.Errorf("target %q, want the invalid bytes replaced", got)
	}
}
