package bpf

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/kretspan/kretspan/processinfo"
)

// DecodeExec's offsets are struct exec_record's, as the compiled object's BTF lays it out.
func TestExecRecordLayout(t *testing.T) {
	spec, err := loadKretspan()
	if err != nil {
		t.Fatal(err)
	}
	var record *btf.Struct
	if err := spec.Types.TypeByName("exec_record", &record); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"start_boottime_ns": execOffStart, "cgroup_id": execOffCgroup, "pid": execOffPID,
		"parent_pid": execOffParentPID, "uid": execOffUID, "environ_len": execOffEnvironLen, "comm": execOffComm,
		"filename": execOffFilename, "executable_name": execOffExecutableName, "environ": execOffEnviron}
	for _, m := range record.Members {
		offset, ok := want[m.Name]
		if !ok {
			t.Errorf("struct exec_record has a field %s that DecodeExec does not read", m.Name)
			continue
		}
		if got := int(m.Offset.Bytes()); got != offset {
			t.Errorf("exec_record.%s at %d, DecodeExec reads it at %d", m.Name, got, offset)
		}
		delete(want, m.Name)
	}
	for name := range want {
		t.Errorf("DecodeExec reads %s, which struct exec_record does not have", name)
	}
	if size := int(record.Size); size != execOffEnviron+execEnvironMax {
		t.Errorf("struct exec_record is %d bytes, want %d", size, execOffEnviron+execEnvironMax)
	}
}

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
