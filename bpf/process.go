package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/kretspan/kretspan/processinfo"
)

// The layout of struct exec_record (process.bpf.h), from bpf2go's copy: a fixed part, then the
// environment, where the record is cut.
const (
	execOffStart          = int(unsafe.Offsetof(kretspanExecRecord{}.StartBoottimeNs))
	execOffCgroup         = int(unsafe.Offsetof(kretspanExecRecord{}.CgroupId))
	execOffPID            = int(unsafe.Offsetof(kretspanExecRecord{}.Pid))
	execOffParentPID      = int(unsafe.Offsetof(kretspanExecRecord{}.ParentPid))
	execOffUID            = int(unsafe.Offsetof(kretspanExecRecord{}.Uid))
	execOffEnvironLen     = int(unsafe.Offsetof(kretspanExecRecord{}.EnvironLen))
	execOffComm           = int(unsafe.Offsetof(kretspanExecRecord{}.Comm))
	execOffFilename       = int(unsafe.Offsetof(kretspanExecRecord{}.Filename))
	execOffExecutableName = int(unsafe.Offsetof(kretspanExecRecord{}.ExecutableName))
	execOffEnviron        = int(unsafe.Offsetof(kretspanExecRecord{}.Environ))
	execCommMax           = len(kretspanExecRecord{}.Comm)
	execFilenameMax       = len(kretspanExecRecord{}.Filename)
	execNameMax           = len(kretspanExecRecord{}.ExecutableName)
	execEnvironMax        = len(kretspanExecRecord{}.Environ)
)

// DecodeExec decodes an exec record into e; e.Environ points into raw.
func DecodeExec(raw []byte, e *processinfo.Exec) error {
	if len(raw) < execOffEnviron {
		return fmt.Errorf("exec record of %d bytes, want at least %d", len(raw), execOffEnviron)
	}
	le := binary.NativeEndian
	n := le.Uint32(raw[execOffEnvironLen:])
	if int(n) > execEnvironMax || len(raw) < execOffEnviron+int(n) {
		return fmt.Errorf("exec record of %d bytes says its environment has %d", len(raw), n)
	}
	*e = processinfo.Exec{
		StartBoottimeNs: le.Uint64(raw[execOffStart:]),
		CgroupID:        le.Uint64(raw[execOffCgroup:]),
		PID:             le.Uint32(raw[execOffPID:]),
		ParentPID:       le.Uint32(raw[execOffParentPID:]),
		UID:             le.Uint32(raw[execOffUID:]),
		Comm:            cString(raw[execOffComm:][:execCommMax]),
		Filename:        cString(raw[execOffFilename:][:execFilenameMax]),
		ExecutableName:  cString(raw[execOffExecutableName:][:execNameMax]),
		Environ:         raw[execOffEnviron : execOffEnviron+int(n)],
	}
	return nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// execRingSize is the exec records' ring: about 75 records of a 3 KiB environment, drained
// before every span record that follows them and at every poll of an idle ring. It is small
// because it is mapped twice into kretspan's resident memory.
const execRingSize = 1 << 18

// execReader reads the exec records of the processes the filters keep.
type execReader struct {
	reader *ringbuf.Reader
	onExec func(*processinfo.Exec)
	record ringbuf.Record
	exec   processinfo.Exec
}

// configureExecs sizes the exec records' ring: a page when nobody reads it.
func configureExecs(s *kretspanSpecs, on bool) {
	s.ExecRecords.MaxEntries = execRingSize
	if !on {
		s.ExecRecords.MaxEntries = uint32(os.Getpagesize())
	}
}

// attachExecs attaches the exec program, which sends a record each time a process the filters
// keep executes a program, and opens the reader of its ring.
func (t *Tracer) attachExecs(onExec func(*processinfo.Exec)) error {
	if err := t.attachSchedTracepoint("sched_process_exec", "exec", func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.ProcessExec }); err != nil {
		return err
	}
	r, err := ringbuf.NewReader(t.maps.ExecRecords)
	if err != nil {
		return fmt.Errorf("open exec records' reader: %w", err)
	}
	r.SetDeadline(time.Unix(1, 0)) // never waits: drained when spans are read
	t.execs = &execReader{reader: r, onExec: onExec}
	return nil
}

// LostExecRecords is how many exec records the kernel lost to a full ring.
func (t *Tracer) LostExecRecords() (uint64, error) {
	var perCPU []uint64
	if err := t.maps.ExecRecordsLost.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read lost exec records: %w", err)
	}
	var lost uint64
	for _, n := range perCPU {
		lost += n
	}
	return lost, nil
}

// pending says whether exec records wait in the ring.
func (x *execReader) pending() bool { return x != nil && x.reader.AvailableBytes() > 0 }

// drain hands every exec record in the ring to onExec.
func (x *execReader) drain() error {
	if x == nil {
		return nil
	}
	for {
		err := x.reader.ReadInto(&x.record)
		switch {
		case err == nil:
			if err := DecodeExec(x.record.RawSample, &x.exec); err != nil {
				return err
			}
			x.onExec(&x.exec)
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			return fmt.Errorf("read exec records: %w", err)
		}
	}
}

func (x *execReader) close() error {
	if x == nil {
		return nil
	}
	return x.reader.Close()
}
