// Package processinfo reads what kretspan says of a traced process from /proc: its executable,
// parent, owner, start time, service name, runtime, container and pod. It is read once per
// process, at the first record of the process, by package otelbridge's cache; a process that has
// exited by then is described by the record the kernel sent when it executed its program.
package processinfo

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kretspan/kretspan/cgroup"
)

// Process is what kretspan knows of one process; empty strings are unknown.
type Process struct {
	PID, ParentPID uint32
	// StartTicks is when the process started, in clock ticks after boot (field 22 of
	// /proc/PID/stat): with the pid, it names one process, since pids are reused.
	StartTicks     uint64
	Comm           string // the command name
	ExecutablePath string
	ExecutableName string // the executable's base name, or Comm where there is no executable (kernel threads)
	Owner          string // the user name of its real uid, or the uid
	CommandLine    string // only when the Reader was asked for command lines
	// ServiceName is the OpenTelemetry service the process names in its environment:
	// OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES.
	ServiceName string
	RuntimeName string // "go" when the executable carries Go build information
	ContainerID string // from its cgroup path (/proc/PID/cgroup, or the exec record's cgroup id): see cgroup.ContainerID
	PodUID      string // from its cgroup path, as ContainerID: see cgroup.PodUID
}

// Reader reads processes from a proc file system.
type Reader struct {
	root        string
	commandLine bool
	owners      map[uint32]string
	runtimes    map[executableKey]string
	execs       execRecords
	now         func() time.Time
}

// executableKey names an executable file whatever path it was reached by.
type executableKey struct{ dev, ino uint64 }

// maxCachedExecutables bounds the runtime cache; past it the cache starts afresh.
const maxCachedExecutables = 4096

// NewReader reads processes under root (/proc); commandLine says whether to read their command
// lines, which may hold secrets.
func NewReader(root string, commandLine bool) *Reader {
	return &Reader{root: root, commandLine: commandLine, owners: map[uint32]string{}, runtimes: map[executableKey]string{}, now: time.Now}
}

// ErrGone says the process no longer exists (or never did).
var ErrGone = errors.New("no such process")

// Read reads process pid. Only its stat file is required: the others may be unreadable (a
// kernel thread has no executable, other users' environments need privileges) and leave their
// fields empty. A process that has exited and is not yet reaped (a zombie: /proc still has its
// stat but no longer its executable or environment) is what its exec record (AddExec) says, if
// it has one of the same start time; else what /proc has. A process that is gone is what its
// pid's exec record says, if it has one, else ErrGone: /proc has no start time left to compare,
// so the record is wrong only when, within ExecRecordLifetime, a process executed a program,
// exited without a traced call, and its pid went to one with no record of its own (a fork that
// executed nothing, or a record the full ring lost). A process exiting while it is read loses
// its files one by one: what it lost, its exec record gives. A process read from /proc uses up
// its exec record too.
func (r *Reader) Read(pid uint32) (Process, error) {
	p, err := r.readProc(pid)
	recorded, ok := r.execs.take(pid)
	switch {
	case !ok:
	case errors.Is(err, ErrGone), err == nil && p.StartTicks == recorded.StartTicks && p.ExecutablePath == "":
		r.execs.used.Add(1)
		return recorded, nil
	case err == nil && p.StartTicks == recorded.StartTicks:
		p.fillFrom(&recorded)
	}
	return p, err
}

// fillFrom gives p what its /proc files no longer said, from the same process's exec record.
func (p *Process) fillFrom(recorded *Process) {
	for _, f := range []struct{ field, from *string }{
		{&p.Owner, &recorded.Owner}, {&p.ServiceName, &recorded.ServiceName},
		{&p.ContainerID, &recorded.ContainerID}, {&p.PodUID, &recorded.PodUID},
	} {
		if *f.field == "" {
			*f.field = *f.from
		}
	}
}

func (r *Reader) readProc(pid uint32) (Process, error) {
	stat, err := r.stat(pid)
	if err != nil {
		return Process{}, err
	}
	p := Process{PID: pid, ParentPID: stat.parentPID, StartTicks: stat.startTicks, Comm: stat.comm, ExecutableName: stat.comm}
	dir := r.dir(pid)
	if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
		p.ExecutablePath = strings.TrimSuffix(exe, " (deleted)")
		p.ExecutableName = filepath.Base(p.ExecutablePath)
		p.RuntimeName = r.runtime(filepath.Join(dir, "exe"))
	}
	if status, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		if uid, ok := realUID(status); ok {
			p.Owner = r.owner(uid)
		}
	}
	if environ, err := os.ReadFile(filepath.Join(dir, "environ")); err == nil {
		p.ServiceName = ServiceName(environ)
	}
	if procCgroup, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		p.ContainerID = cgroup.ProcContainerID(string(procCgroup))
		p.PodUID = cgroup.ProcPodUID(string(procCgroup))
	}
	if r.commandLine {
		if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			p.CommandLine = strings.Join(strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"), " ")
		}
	}
	// Had the pid been reused while the files were read, the start time would differ now.
	if again, err := r.StartTicks(pid); err != nil || again != p.StartTicks {
		return Process{}, fmt.Errorf("process %d: %w (it exited while being read)", pid, ErrGone)
	}
	return p, nil
}

// StartTicks is when process pid started (Process.StartTicks), or ErrGone.
func (r *Reader) StartTicks(pid uint32) (uint64, error) {
	stat, err := r.stat(pid)
	return stat.startTicks, err
}

func (r *Reader) dir(pid uint32) string {
	return filepath.Join(r.root, strconv.FormatUint(uint64(pid), 10))
}

type statFields struct {
	comm       string
	parentPID  uint32
	startTicks uint64
}

func (r *Reader) stat(pid uint32) (statFields, error) {
	data, err := os.ReadFile(filepath.Join(r.dir(pid), "stat"))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return statFields{}, fmt.Errorf("process %d: %w", pid, ErrGone)
	}
	if err != nil {
		return statFields{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return parseStat(data)
}

// parseStat reads /proc/PID/stat: "pid (comm) state ppid ...", starttime the 22nd field. The
// command name may hold spaces and parentheses, so the fields after it start at the last ')'.
func parseStat(data []byte) (statFields, error) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return statFields{}, fmt.Errorf("malformed stat %q", data)
	}
	fields := strings.Fields(string(data[end+1:])) // fields[0] is field 3, the state
	const ppidField, startField = 4, 22
	if len(fields) < startField-2 {
		return statFields{}, fmt.Errorf("malformed stat %q", data)
	}
	ppid, err1 := strconv.ParseUint(fields[ppidField-3], 10, 32)
	start, err2 := strconv.ParseUint(fields[startField-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return statFields{}, fmt.Errorf("malformed stat %q: %w", data, err)
	}
	return statFields{comm: strings.ToValidUTF8(string(data[open+1:end]), "\uFFFD"), parentPID: uint32(ppid), startTicks: start}, nil
}

// realUID reads the real uid from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs").
func realUID(status []byte) (uint32, bool) {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if fields := strings.Fields(rest); len(fields) > 0 {
				uid, err := strconv.ParseUint(fields[0], 10, 32)
				return uint32(uid), err == nil
			}
		}
	}
	return 0, false
}

// owner names uid as this system's user database does, else by its number; in a container, that
// is the container's database.
func (r *Reader) owner(uid uint32) string {
	if name, ok := r.owners[uid]; ok {
		return name
	}
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	r.owners[uid] = name
	return name
}

// runtime is "go" for an executable with Go build information, read once per executable file.
func (r *Reader) runtime(exe string) string {
	info, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	sys, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	key := executableKey{uint64(sys.Dev), sys.Ino}
	if name, ok := r.runtimes[key]; ok {
		return name
	}
	name := ""
	if _, err := buildinfo.ReadFile(exe); err == nil {
		name = "go"
	}
	if len(r.runtimes) >= maxCachedExecutables {
		clear(r.runtimes)
	}
	r.runtimes[key] = name
	return name
}

// ServiceName is the service a process's environment (/proc/PID/environ: NUL-separated
// NAME=value) names, as an OpenTelemetry SDK in it reads it: OTEL_SERVICE_NAME, else
// service.name in OTEL_RESOURCE_ATTRIBUTES; "" if neither.
func ServiceName(environ []byte) string {
	var fromAttributes string
	for _, entry := range bytes.Split(environ, []byte{0}) {
		name, value, ok := strings.Cut(string(entry), "=")
		if !ok {
			continue
		}
		switch name {
		case "OTEL_SERVICE_NAME":
			if v := strings.TrimSpace(value); v != "" {
				return strings.ToValidUTF8(v, "\uFFFD")
			}
		case "OTEL_RESOURCE_ATTRIBUTES":
			for _, pair := range strings.Split(value, ",") {
				if k, v, ok := strings.Cut(pair, "="); ok && strings.TrimSpace(k) == "service.name" {
					fromAttributes = strings.TrimSpace(v)
				}
			}
		}
	}
	if decoded, err := url.PathUnescape(fromAttributes); err == nil { // values are percent-encoded
		fromAttributes = decoded
	}
	return strings.ToValidUTF8(fromAttributes, "\uFFFD")
}
