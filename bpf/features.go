package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/cgroup"
	"github.com/kretspan/kretspan/probe"
)

// Features is what the running kernel supports, as kretspan check reports it.
type Features struct {
	BTF         error // nil when supported; the error says why not
	RingBuffer  error
	Kprobes     error
	KprobeMulti error
	Fentry      error
	Tracepoints error
	Uprobes     error
	// TaskStorage: call stacks live in task-local storage instead of a bounded hash table.
	TaskStorage error
	CgroupV2    error // a cgroup v2 hierarchy is mounted, which the cgroup filters need
	// SchedTpBtf and SchedRawTracepoints are the ways --sched hooks the scheduler, best first.
	SchedTpBtf          error
	SchedRawTracepoints error
	TracefsDir          string
	// Lockdown is the kernel's lockdown mode: "none", "integrity" or "confidentiality"; "unknown"
	// when it cannot be read, and LockdownErr says why.
	Lockdown    string
	LockdownErr error
}

// LockdownForbids says what of kretspan's needs the kernel's lockdown mode forbids; "" for nothing.
// Confidentiality mode refuses reading kernel memory (bpf_probe_read_kernel, which bcc and
// bpftrace users meet as programs that no longer load), kprobes and tracefs; integrity mode
// refuses only writing user memory, which kretspan never does.
func (f Features) LockdownForbids() string {
	if f.Lockdown == "confidentiality" {
		return "reading kernel memory (bpf_probe_read_kernel), kprobes and tracefs"
	}
	return ""
}

// DetectFeatures probes the kernel. It loads small test programs, so it needs the same
// privileges as tracing itself.
func DetectFeatures() Features {
	f := Features{TracefsDir: mountTracefs()}
	_, f.BTF = btf.LoadKernelSpec()
	f.RingBuffer = features.HaveMapType(ebpf.RingBuf)
	f.Kprobes = haveKprobes(f.TracefsDir)
	if f.Kprobes == nil {
		f.KprobeMulti = features.HaveBPFLinkKprobeMulti()
	} else {
		f.KprobeMulti = f.Kprobes
	}
	f.Fentry = haveFentry(f.BTF)
	f.Tracepoints = haveDir(filepath.Join(f.TracefsDir, "events", "syscalls"), "syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
	f.Uprobes = haveDir("/sys/bus/event_source/devices/uprobe", "uprobes (CONFIG_UPROBE_EVENTS)")
	f.TaskStorage = haveTaskStorage()
	_, f.CgroupV2 = cgroup.Mount()
	f.SchedTpBtf, f.SchedRawTracepoints = schedHooks[0].supportedError(), schedHooks[1].supportedError()
	f.Lockdown, f.LockdownErr = readLockdown(lockdownFile)
	return f
}

const lockdownFile = "/sys/kernel/security/lockdown"

// readLockdown reads the bracketed mode of a lockdown file: "none [integrity] confidentiality".
func readLockdown(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "unknown", fmt.Errorf("no %s: securityfs is not mounted, or the kernel has no lockdown LSM", path)
	}
	if err != nil {
		return "unknown", fmt.Errorf("read lockdown mode: %w", err)
	}
	for _, mode := range strings.Fields(string(data)) {
		if inner, ok := strings.CutPrefix(mode, "["); ok {
			if inner, ok = strings.CutSuffix(inner, "]"); ok {
				return inner, nil
			}
		}
	}
	return "unknown", fmt.Errorf("%s: no mode in brackets in %q", path, strings.TrimSpace(string(data)))
}

// Kernel is the running kernel as probe resolution sees it, with these features.
func (f Features) Kernel() *probe.Kernel {
	return &probe.Kernel{Fentry: f.Fentry == nil, Kprobes: f.Kprobes == nil, KprobeMulti: f.KprobeMulti == nil, TracefsDir: f.TracefsDir}
}

// haveTaskStorage reports whether every program type kretspan attaches (kprobes and uprobes are
// Kprobe programs) may keep call stacks in task storage: kernel 5.11 and later.
func haveTaskStorage() error {
	if err := features.HaveMapType(ebpf.TaskStorage); err != nil {
		return fmt.Errorf("no task storage maps: %w", err)
	}
	for _, pt := range []ebpf.ProgramType{ebpf.Kprobe, ebpf.TracePoint} {
		for _, helper := range []asm.BuiltinFunc{asm.FnGetCurrentTaskBtf, asm.FnTaskStorageGet} {
			if err := features.HaveProgramHelper(pt, helper); err != nil {
				return fmt.Errorf("%v programs cannot call %v: %w", pt, helper, err)
			}
		}
	}
	return nil
}

func haveDir(path, what string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no %s: %w", what, err)
	}
	return nil
}

func haveKprobes(tracefs string) error {
	if haveDir("/sys/bus/event_source/devices/kprobe", "") == nil {
		return nil
	}
	return haveDir(filepath.Join(tracefs, "kprobe_events"), "kprobes (CONFIG_KPROBES, CONFIG_KPROBE_EVENTS)")
}

// fentryProbeTargets are functions present in every kernel kretspan supports.
var fentryProbeTargets = []string{"vfs_read", "do_nanosleep"}

func haveFentry(btfErr error) error {
	if btfErr != nil {
		return fmt.Errorf("fentry needs kernel BTF: %w", btfErr)
	}
	var lastErr error
	for _, target := range fentryProbeTargets {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type:       ebpf.Tracing,
			AttachType: ebpf.AttachTraceFEntry,
			AttachTo:   target,
			License:    "GPL",
			Instructions: asm.Instructions{
				asm.Mov.Imm(asm.R0, 0),
				asm.Return(),
			},
		})
		if err != nil {
			lastErr = fmt.Errorf("fentry programs do not load: %w", err)
			continue
		}
		// Loading is not enough: arm64 kernels without ftrace direct calls (Debian's 6.1) load
		// fentry programs but have no trampoline to attach them with.
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		prog.Close()
		if err == nil {
			l.Close()
			return nil
		}
		lastErr = fmt.Errorf("fentry programs load but do not attach: %w", err)
	}
	return lastErr
}

// tracefsDirs are where tracefs is found: its own mount point, then the one under debugfs.
var tracefsDirs = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// FindTracefs finds a mounted tracefs, mounting nothing.
func FindTracefs() (string, error) {
	for _, dir := range tracefsDirs {
		if _, err := os.Stat(filepath.Join(dir, "events")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("tracefs is not mounted (mount -t tracefs tracefs %s)", tracefsDirs[0])
}

// mountTracefs finds tracefs, mounting it when it is missing and that is permitted.
func mountTracefs() string {
	if dir, err := FindTracefs(); err == nil {
		return dir
	}
	dir := tracefsDirs[0]
	_ = unix.Mount("tracefs", dir, "tracefs", 0, "") // when it fails, the callers' errors name what is missing
	return dir
}

// ensureBPFFS returns the folder for the shared OpenTelemetry maps under bpffs, mounting bpffs
// when it is missing and that is permitted.
func ensureBPFFS(bpffs string) (string, error) {
	var stat unix.Statfs_t
	if err := unix.Statfs(bpffs, &stat); err != nil || stat.Type != unix.BPF_FS_MAGIC {
		if err := os.MkdirAll(bpffs, 0o755); err != nil {
			return "", fmt.Errorf("create %s: %w", bpffs, err)
		}
		if err := unix.Mount("bpf", bpffs, "bpf", 0, ""); err != nil {
			return "", fmt.Errorf("%s is not a bpffs and mounting one failed: %w", bpffs, err)
		}
	}
	dir := filepath.Join(bpffs, "otel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}
