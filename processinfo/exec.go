package processinfo

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kretspan/kretspan/cgroup"
)

// Exec is what the kernel records of a process when it executes a program: enough for its
// resource once it has exited and /proc no longer has it.
type Exec struct {
	PID, ParentPID, UID uint32
	StartBoottimeNs     uint64 // the clock of /proc/PID/stat's starttime, in nanoseconds
	CgroupID            uint64 // its cgroup v2 directory's inode number
	Comm                string
	Filename            string // as passed to execve: relative paths stay relative
	ExecutableName      string // the executed file's own name, symbolic links resolved
	Environ             []byte // the environment's first bytes (NAME=value\0...); valid during AddExec only
}

// ClockTicksPerSecond is USER_HZ, the unit of /proc's process times (sysconf(_SC_CLK_TCK)): 100
// on amd64 and arm64, the architectures kretspan supports (not on every one: Alpha's is 1024).
const ClockTicksPerSecond = 100

// StartTicks is Process.StartTicks of the process.
func (e *Exec) StartTicks() uint64 {
	return e.StartBoottimeNs / (uint64(time.Second) / ClockTicksPerSecond)
}

// ExecRecordLifetime bounds how long an exec record waits to be used: a process's first span
// comes within the ring's delay of its exec, or not at all.
const ExecRecordLifetime = 10 * time.Second

// maxExecRecords bounds the exec records waiting at once; past it, the oldest go.
const maxExecRecords = 1 << 14

// execRecords are the processes recorded at exec and not yet read, by pid: a later exec of the
// same pid replaces the earlier one.
type execRecords struct {
	byPID   map[uint32]execRecord
	arrived []execArrival // in order of arrival: where expiry starts
	cgroups *cgroup.IDs   // nil: no cgroup v2 hierarchy
	used    atomic.Uint64 // records that described a process /proc no longer had
}

type execRecord struct {
	process Process
	seq     uint64
}

type execArrival struct {
	pid uint32
	seq uint64
	at  time.Time
}

// AddExec keeps what an exec record says of a process, for Read to use if the process has exited
// by its first span. Records not used within ExecRecordLifetime are dropped.
func (r *Reader) AddExec(e *Exec) {
	now := r.now()
	x := &r.execs
	if x.byPID == nil {
		x.byPID = map[uint32]execRecord{}
		if mount, err := cgroup.Mount(); err == nil {
			x.cgroups = cgroup.NewIDs(mount)
		}
	}
	x.expire(now)
	seq := uint64(1)
	if n := len(x.arrived); n > 0 {
		seq = x.arrived[n-1].seq + 1
	}
	x.byPID[e.PID] = execRecord{process: r.fromExec(e), seq: seq}
	x.arrived = append(x.arrived, execArrival{pid: e.PID, seq: seq, at: now})
}

// Sweep drops the exec records older than ExecRecordLifetime.
func (r *Reader) Sweep() { r.execs.expire(r.now()) }

// UsedExecRecords is how many processes Read described by their exec record, having exited.
func (r *Reader) UsedExecRecords() uint64 { return r.execs.used.Load() }

func (x *execRecords) expire(now time.Time) {
	n := 0
	for n < len(x.arrived) && (now.Sub(x.arrived[n].at) > ExecRecordLifetime || len(x.arrived)-n >= maxExecRecords) {
		if a := x.arrived[n]; x.byPID[a.pid].seq == a.seq {
			delete(x.byPID, a.pid)
		}
		n++
	}
	x.arrived = x.arrived[n:]
	if len(x.arrived) == 0 {
		x.arrived = nil // lets the backing array go
	}
}

// take removes and returns the exec record of pid.
func (x *execRecords) take(pid uint32) (Process, bool) {
	rec, ok := x.byPID[pid]
	if ok {
		delete(x.byPID, pid)
	}
	return rec.process, ok
}

// fromExec is the process an exec record describes, with the attributes /proc would give but the
// command line. Its executable path is the one passed to execve when that is absolute.
func (r *Reader) fromExec(e *Exec) Process {
	valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
	p := Process{PID: e.PID, ParentPID: e.ParentPID, StartTicks: e.StartTicks(), Comm: valid(e.Comm),
		ExecutableName: valid(e.ExecutableName), Owner: r.owner(e.UID), ServiceName: ServiceName(e.Environ)}
	if filepath.IsAbs(e.Filename) {
		p.ExecutablePath = valid(filepath.Clean(e.Filename))
		p.RuntimeName = r.runtime(p.ExecutablePath)
	}
	if p.ExecutableName == "" {
		p.ExecutableName = p.Comm
	}
	if r.execs.cgroups != nil && e.CgroupID != 0 {
		if path := r.execs.cgroups.Path(e.CgroupID); path != "" {
			p.ContainerID, p.PodUID = cgroup.ContainerID(path), cgroup.PodUID(path)
		}
	}
	return p
}
