package processinfo

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// A process /proc no longer has is what its exec record says: the latest exec of its pid, while
// the record is younger than ExecRecordLifetime; one /proc still has in full is read from /proc.
func TestReadFallsBackToExecRecord(t *testing.T) {
	root := t.TempDir()
	r := NewReader(root, false)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	environ := []byte("PATH=/bin\x00OTEL_SERVICE_NAME=checkout\x00")
	exec := func(pid uint32, filename string, startTicks uint64) {
		r.AddExec(&Exec{PID: pid, ParentPID: 1, UID: 4000000, StartBoottimeNs: startTicks * 10_000_000, Comm: "app",
			Filename: filename, ExecutableName: "app-real", Environ: environ})
	}
	owner := strconv.Itoa(4000000) // no such user: named by its number

	exec(50, "/usr/bin/old", 10)
	exec(50, "/usr/local/bin/../bin/app", 20) // the same pid executes again: this one holds
	got, err := r.Read(50)
	want := Process{PID: 50, ParentPID: 1, StartTicks: 20, Comm: "app", ExecutablePath: "/usr/local/bin/app",
		ExecutableName: "app-real", Owner: owner, ServiceName: "checkout"}
	if err != nil || got != want {
		t.Errorf("Read of an exited process = %+v, %v\nwant %+v", got, err, want)
	}
	if _, err := r.Read(50); !errors.Is(err, ErrGone) {
		t.Errorf("second Read: %v, want ErrGone: the record is used up", err)
	}

	exec(51, "bin/app", 30) // relative: no path
	if got, err := r.Read(51); err != nil || got.ExecutablePath != "" || got.ExecutableName != "app-real" {
		t.Errorf("Read after a relative exec = %+v, %v; want no path, the executable's own name", got, err)
	}

	// A zombie: /proc has its stat, no executable. The record of the same start time holds; a
	// record of another start time is another process's.
	writeProc(t, root, 52, map[string]string{"stat": "52 (app) Z 1 52 52 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 40 0 0\n"}, "")
	exec(52, "/usr/bin/app", 40)
	if got, err := r.Read(52); err != nil || got.ServiceName != "checkout" {
		t.Errorf("Read of a zombie = %+v, %v; want its exec record", got, err)
	}
	exec(52, "/usr/bin/app", 39)
	if got, err := r.Read(52); err != nil || got.ServiceName != "" || got.StartTicks != 40 {
		t.Errorf("Read of a zombie with another process's record = %+v, %v; want /proc's", got, err)
	}

	// A running process is read from /proc, and uses up its record.
	writeProc(t, root, 53, map[string]string{"stat": "53 (app) S 1 53 53 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 50 0 0\n",
		"environ": "OTEL_SERVICE_NAME=from-proc\x00"}, "/usr/bin/app")
	exec(53, "/usr/bin/app", 50)
	if got, err := r.Read(53); err != nil || got.ServiceName != "from-proc" || got.ExecutablePath != "/usr/bin/app" {
		t.Errorf("Read of a running process = %+v, %v; want /proc's", got, err)
	}
	// One that exited while it was read: its executable read, its environment and status gone.
	writeProc(t, root, 55, map[string]string{"stat": "55 (app) S 1 55 55 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 70 0 0\n"}, "/usr/bin/app")
	exec(55, "/usr/bin/app", 70)
	want = Process{PID: 55, ParentPID: 1, StartTicks: 70, Comm: "app", ExecutablePath: "/usr/bin/app", ExecutableName: "app",
		Owner: owner, ServiceName: "checkout"}
	if got, err := r.Read(55); err != nil || got != want {
		t.Errorf("Read of a process that exited while read = %+v, %v\nwant %+v", got, err, want)
	}
	if n := len(r.execs.byPID); n != 0 {
		t.Errorf("%d exec records left, want none", n)
	}
	if n := r.UsedExecRecords(); n != 3 {
		t.Errorf("%d processes described by exec records, want 3", n)
	}

	// An exec record not used within its lifetime is dropped.
	exec(54, "/usr/bin/app", 60)
	now = now.Add(ExecRecordLifetime + time.Second)
	r.Sweep()
	if _, err := r.Read(54); !errors.Is(err, ErrGone) || len(r.execs.arrived) != 0 {
		t.Errorf("Read after the record's lifetime: %v (%d records waiting), want ErrGone", err, len(r.execs.arrived))
	}
}
