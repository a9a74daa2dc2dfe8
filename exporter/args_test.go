package exporter

import (
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
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
		attrs    []*commonpb.KeyValue
		want     string
	}{
		{"openat", []*commonpb.KeyValue{num("kretspan.return_value", -13), num("kretspan.arg.dfd", -100), str("kretspan.arg.filename", "/etc/shadow"), num("kretspan.arg.flags", 0x80000)},
			`(dfd=-100, filename="/etc/shadow", flags=O_RDONLY|O_CLOEXEC)`},
		{"read", []*commonpb.KeyValue{num("kretspan.arg.fd", 3), str("file.path", "/etc/hosts"), num("kretspan.arg.count", 4096)},
			`(fd=3</etc/hosts>, count=4096)`},
		{"read", []*commonpb.KeyValue{num("kretspan.arg.fd", 3), str("kretspan.arg.fd.path.error", "read failed")},
			`(fd=3<?>)`},
		{"openat", []*commonpb.KeyValue{str("kretspan.arg.filename", "/very/lon"), flag("kretspan.arg.filename.truncated", true), str("kretspan.arg.mode.error", "read failed: EFAULT")},
			`(filename="/very/lon"..., mode=?(read failed: EFAULT))`},
		{"vfs_read", []*commonpb.KeyValue{str("file.path", "socket:[12]"), flag("kretspan.arg.sync", true)},
			`(file="socket:[12]", sync=true)`},
		{"getpid", []*commonpb.KeyValue{num("kretspan.return_value", 7)}, ""},
	} {
		if got := formatArgs(tc.function, tc.attrs); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.function, got, tc.want)
		}
	}
}
