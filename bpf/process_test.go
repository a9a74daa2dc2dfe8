package bpf

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/kretspan/kretspan/processinfo"
)

func TestDecodeExec(t *testing.T) {
	environ := "PATH=/bin\x00OTEL_SERVICE_NAME=checkout\x00"
	raw := make([]byte, execOffEnviron+len(environ))
	le := binary.NativeEndian
	le.PutUint64(raw[execOffStart:], 12_345_000_000)
	le.PutUint64(raw[execOffCgroup:], 4242)
	le.PutUint32(raw[execOffPID:], 7)
	le.PutUint32(raw[execOffParentPID:], 1)
	le.PutUint32(raw[execOffUID:], 1000)
	le.PutUint32(raw[execOffEnvironLen:], uint32(len(environ)))
	copy(raw[execOffComm:], "app\x00junk")
	copy(raw[execOffFilename:], "./bin/app")
	copy(raw[execOffExecutableName:], "app-1.2")
	copy(raw[execOffEnviron:], environ)
	var e processinfo.Exec
	if err := DecodeExec(raw, &e); err != nil {
		t.Fatal(err)
	}
	want := processinfo.Exec{PID: 7, ParentPID: 1, UID: 1000, StartBoottimeNs: 12_345_000_000, CgroupID: 4242, Comm: "app",
		Filename: "./bin/app", ExecutableName: "app-1.2"}
	if string(e.Environ) != environ {
		t.Errorf("environment %q, want %q", e.Environ, environ)
	}
	e.Environ = nil
	if !reflect.DeepEqual(e, want) {
		t.Errorf("DecodeExec = %+v\nwant %+v", e, want)
	}
	if e.StartTicks() != 1234 {
		t.Errorf("start %d ticks, want 1234 (12.345 s at 100 ticks a second)", e.StartTicks())
	}

	le.PutUint32(raw[execOffEnvironLen:], uint32(len(environ)+1)) // says more than the record holds
	if err := DecodeExec(raw, &e); err == nil {
		t.Error("DecodeExec accepted an environment longer than its record")
	}
	if err := DecodeExec(raw[:execOffEnviron-1], &e); err == nil {
		t.Error("DecodeExec accepted a record shorter than its fixed part")
	}
}
