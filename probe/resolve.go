package probe

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// System answers what the running machine offers; Resolve takes it as a parameter so that
// resolution is testable without a kernel.
type System interface {
	// KernelFunctions lists the kernel functions that can be probed.
	KernelFunctions() ([]string, error)
	// KernelFunctionDefinitions counts the functions named name, one of KernelFunctions.
	KernelFunctionDefinitions(name string) int
	// KernelSignature describes a kernel function's BTF prototype.
	KernelSignature(name string) (Signature, error)
	// Syscalls lists the syscalls that have enter/exit tracepoints.
	Syscalls() ([]string, error)
	// HaveFentry, HaveKprobes and HaveKprobeMulti report which kernel-function mechanisms work here.
	HaveFentry() bool
	HaveKprobes() bool
	HaveKprobeMulti() bool
}

// Signature is what kretspan needs of a function's prototype.
type Signature struct {
	ArgCount int
	RetInt32 bool
}

// ErrNotFound marks a spec that matches nothing.
var ErrNotFound = errors.New("no such target")

// Resolve expands specs into targets with IDs 1..n. Notes are messages for the user (renames,
// mechanism choices). A spec matching nothing, or two exact specs naming the same target, is an error.
func Resolve(specs []Spec, sys System, globLimit int) (targets []Target, notes []string, err error) {
	seen := map[string]Spec{}
	files := binaries{}
	defer files.close()
	for _, spec := range specs {
		found, specNotes, err := resolveOne(spec, sys, files, globLimit)
		if err != nil {
			return nil, nil, err
		}
		notes = append(notes, specNotes...)
		for _, t := range found {
			if prev, dup := seen[t.key()]; dup {
				if !prev.IsGlob() && !spec.IsGlob() {
					return nil, nil, fmt.Errorf("probe %q: duplicate of %q; give each target once", spec.Raw, prev.Raw)
				}
				continue // overlapping globs: the first spec keeps the target
			}
			seen[t.key()] = spec
			t.ID = uint32(len(targets) + 1)
			targets = append(targets, t)
		}
	}
	if len(targets) > globLimit {
		return nil, nil, fmt.Errorf("%d targets in all, more than --max-glob %d; narrow the probes or raise the limit", len(targets), globLimit)
	}
	return targets, notes, nil
}

func resolveOne(spec Spec, sys System, files binaries, globLimit int) ([]Target, []string, error) {
	switch spec.Kind {
	case KindSyscall:
		return resolveSyscall(spec, sys, globLimit)
	case KindUprobe:
		targets, err := resolveUprobe(spec, files, globLimit)
		return targets, nil, err
	default:
		return resolveKernelFunction(spec, sys, globLimit)
	}
}

func resolveSyscall(spec Spec, sys System, globLimit int) ([]Target, []string, error) {
	names, err := sys.Syscalls()
	if err != nil {
		return nil, nil, err
	}
	matched, err := spec.Match(names, globLimit)
	if err != nil {
		return nil, nil, err
	}
	if len(matched) == 0 {
		return nil, nil, fmt.Errorf("probe %q: %w: no syscall tracepoint matches; see 'kretspan list syscall:'", spec.Raw, ErrNotFound)
	}
	var targets []Target
	for _, name := range matched {
		nr, ok := syscallNumbers[name]
		if !ok {
			if spec.IsGlob() {
				continue // a tracepoint for a syscall this build does not know the number of
			}
			return nil, nil, fmt.Errorf("probe %q: syscall %s has a tracepoint but kretspan does not know its number", spec.Raw, name)
		}
		targets = append(targets, Target{Spec: spec, Kind: KindSyscall, Mechanism: MechanismSyscallTracepoints, Name: name, SyscallNumber: nr, ReturnsErrno: true})
	}
	if len(targets) == 0 {
		return nil, nil, fmt.Errorf("probe %q: %w: no syscall this build knows the number of matches", spec.Raw, ErrNotFound)
	}
	return targets, nil, nil
}

// forkRenames: _do_fork became kernel_clone in Linux 5.10; the Linux kernel's kretprobe example
// probes _do_fork, and either name works on both.
var forkRenames = map[string]string{"_do_fork": "kernel_clone", "kernel_clone": "_do_fork"}

func resolveKernelFunction(spec Spec, sys System, globLimit int) ([]Target, []string, error) {
	var notes []string
	mechanism := spec.Kind
	if mechanism == KindAuto {
		switch {
		case spec.IsGlob() && sys.HaveKprobeMulti():
			mechanism = KindKprobe // one kprobe.multi link attaches a glob at once; fentry loads a program per function
		case sys.HaveFentry():
			mechanism = KindFentry
		case sys.HaveKprobes():
			mechanism = KindKprobe
		default:
			return nil, nil, fmt.Errorf("probe %q: this kernel supports neither fentry nor kprobes; try syscall:NAME or uprobe:PATH:SYMBOL", spec.Raw)
		}
	}
	if mechanism == KindKprobe && !sys.HaveKprobes() {
		return nil, nil, fmt.Errorf("probe %q: this kernel has no kprobes (CONFIG_KPROBES); try fentry:%s or syscall:NAME", spec.Raw, spec.Pattern)
	}
	if mechanism == KindFentry && !sys.HaveFentry() {
		return nil, nil, fmt.Errorf("probe %q: this kernel does not allow fentry programs; try kprobe:%s or syscall:NAME", spec.Raw, spec.Pattern)
	}
	functions, err := sys.KernelFunctions()
	if err != nil {
		return nil, nil, err
	}
	matched, err := spec.Match(functions, globLimit)
	if err != nil {
		return nil, nil, err
	}
	if len(matched) == 0 && !spec.IsGlob() {
		if renamed, ok := forkRenames[spec.Pattern]; ok && slices.Contains(functions, renamed) {
			notes = append(notes, fmt.Sprintf("%s is called %s in this kernel; probing %s", spec.Pattern, renamed, renamed))
			matched = []string{renamed}
		}
	}
	if len(matched) == 0 {
		return nil, nil, fmt.Errorf("probe %q: %w: no traceable kernel function matches (it may be inlined, static or notrace); see 'kretspan list'", spec.Raw, ErrNotFound)
	}
	attach := MechanismFentry
	if mechanism == KindKprobe {
		attach = MechanismKprobe
		if sys.HaveKprobeMulti() {
			attach = MechanismKprobeMulti // every kprobe, globbed or not: one link pair attaches them all
		}
	}
	targets := make([]Target, 0, len(matched))
	var ambiguous []string
	for _, name := range matched {
		// Kprobes and fentry attach by name, and newer kernels refuse a name with several
		// definitions rather than guess; kretspan refuses it on every kernel.
		if n := sys.KernelFunctionDefinitions(name); n > 1 {
			if !spec.IsGlob() {
				return nil, nil, fmt.Errorf("probe %q: the kernel has %d functions named %s (static functions of different files), and probes attach by name", spec.Raw, n, name)
			}
			ambiguous = append(ambiguous, name)
			continue
		}
		sig, err := sys.KernelSignature(name)
		if err != nil && mechanism == KindFentry {
			if spec.IsGlob() {
				continue // fentry needs BTF for every function; a glob skips those without
			}
			return nil, nil, fmt.Errorf("probe %q: %w", spec.Raw, err)
		}
		targets = append(targets, Target{Spec: spec, Kind: mechanism, Mechanism: attach, Name: name, ArgCount: sig.ArgCount, RetInt32: sig.RetInt32, ReturnsErrno: true})
	}
	if len(ambiguous) > 0 {
		notes = append(notes, fmt.Sprintf("%s: skipping %d functions whose name the kernel defines more than once (%s)", spec.Raw, len(ambiguous), exampleNames(ambiguous)))
	}
	if len(targets) == 0 {
		if len(ambiguous) == len(matched) {
			return nil, nil, fmt.Errorf("probe %q: %w: every match has more than one definition in the kernel", spec.Raw, ErrNotFound)
		}
		return nil, nil, fmt.Errorf("probe %q: %w: no match has the BTF that fentry needs; try kprobe:%s", spec.Raw, ErrNotFound, spec.Pattern)
	}
	if spec.Kind == KindAuto {
		notes = append(notes, fmt.Sprintf("%s: using %s", spec.Raw, mechanism))
	}
	return targets, notes, nil
}

// exampleNames lists the first few names, for a note.
func exampleNames(names []string) string {
	const shown = 3
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}
