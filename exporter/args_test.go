package exporter

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kretspan/kretspan/otelbridge"
)

func TestConsoleWritesArgumentsAsStraceDoes(t *testing.T) {
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	num := func(k string, v int64) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
	}
	flag := func(k string, v bool) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}}
	}
	for _, tc := range []struct {
		function string
		syscall  bool
		attrs    []*commonpb.KeyValue
		want     string
	}{
		{"openat", true, []*commonpb.KeyValue{num("kretspan.return_value", -13), num("kretspan.arg.dfd", -100), str("kretspan.arg.filename", "/etc/shadow"), num("kretspan.arg.flags", 0x80000)},
			`(dfd=-100, filename="/etc/shadow", flags=O_RDONLY|O_CLOEXEC)`},
		{"read", true, []*commonpb.KeyValue{num("kretspan.arg.fd", 3), str("file.path", "/etc/hosts"), num("kretspan.arg.count", 4096)},
			`(fd=3</etc/hosts>, count=4096)`},
		{"read", true, []*commonpb.KeyValue{num("kretspan.arg.fd", 3), str("kretspan.arg.fd.path.error", "read failed")},
			`(fd=3<?>)`},
		{"read", true, []*commonpb.KeyValue{num("kretspan.arg.fd", 3), str("file.path", "/very/lon"), flag("kretspan.arg.fd.path.truncated", true)},
			`(fd=3</very/lon>...)`},
		{"openat", true, []*commonpb.KeyValue{str("kretspan.arg.filename", "/very/lon"), flag("kretspan.arg.filename.truncated", true), str("kretspan.arg.mode.error", "read failed: EFAULT")},
			`(filename="/very/lon"..., mode=?(read failed: EFAULT))`},
		{"vfs_read", false, []*commonpb.KeyValue{str("file.path", "socket:[12]"), flag("kretspan.arg.sync", true)},
			`(file="socket:[12]", sync=true)`},
		// A kernel function's path is no descriptor's: not paired with the integer before it.
		{"vfs_read", false, []*commonpb.KeyValue{num("kretspan.arg.count", 4096), str("file.path", "/etc/hosts")},
			`(count=4096, file="/etc/hosts")`},
		// A cut path is named by its marker, which file.path's key does not carry.
		{"d_path", false, []*commonpb.KeyValue{num("kretspan.arg.len", 8), str("file.path", "/very/lon"), flag("kretspan.arg.dentry.truncated", true)},
			`(len=8, dentry="/very/lon"...)`},
		// A function that shares a syscall's name has its own arguments: no flag names.
		{"openat", false, []*commonpb.KeyValue{num("kretspan.arg.flags", 0x80000)},
			`(flags=524288)`},
		// Nor is an integer x followed by an argument named x.path a descriptor and its path.
		{"f", false, []*commonpb.KeyValue{num("kretspan.arg.x", 1), str("kretspan.arg.x.path.error", "read failed")},
			`(x=1, x.path=?(read failed))`},
		{"getpid", true, []*commonpb.KeyValue{num("kretspan.return_value", 7)}, ""},
	} {
		if got := formatArgs(tc.function, tc.syscall, tc.attrs); got != tc.want {
			t.Errorf("%s (syscall %v): %s, want %s", tc.function, tc.syscall, got, tc.want)
		}
	}
}

// The console tells a syscall's span by its probe kind, which comes after the arguments.
func TestConsoleNamesFlagsOfSyscallsOnly(t *testing.T) {
	for kind, want := range map[string]string{"syscall": "openat(flags=O_RDONLY|O_CLOEXEC) returned", "uprobe": "openat(flags=524288) returned"} {
		var out bytes.Buffer
		c := NewConsole(&out)
		c.write(&tracepb.Span{Name: "openat", Attributes: []*commonpb.KeyValue{
			{Key: "kretspan.arg.flags", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 0x80000}}},
			{Key: otelbridge.AttrProbeKind, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: kind}}},
		}})
		if err := c.w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), want) {
			t.Errorf("%s: %q, want it to start %q", kind, out.String(), want)
		}
	}
}
