package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/kretspan/kretspan/probe"
)

// attachment is how kretspan attaches the targets of one mechanism.
type attachment struct {
	// entry and ret pick the mechanism's programs among bpf2go's.
	entry, ret func(*kretspanProgramSpecs) *ebpf.ProgramSpec
	// instance sets the constants (and attach point) of a copy of the programs for one target,
	// which the verifier prunes dead branches with. nil: one copy serves every target of the
	// mechanism, finding each one's probe id at run time (an attach cookie, the syscall table).
	instance func(*kretspanSpecs, Probe) error
	// attach attaches loaded programs to targets: the return program before the entry one, so that
	// no call is entered without its return watched (such a frame would parent later calls under
	// a span that never comes). Links close in reverse order, entries first.
	attach func(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error
	// descriptors is the file descriptors a target holds beyond the shared ones.
	descriptors func(Probe) uint64
}

// attachments has a row for every probe.Mechanism; a test fails on one without.
var attachments = map[probe.Mechanism]attachment{
	probe.MechanismKprobe: {
		entry:       func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.KprobeEntry },
		ret:         func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.KprobeReturn },
		instance:    setProbeID,
		attach:      attachKprobe,
		descriptors: ownPrograms,
	},
	probe.MechanismKprobeMulti: {
		entry:       func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.KprobeMultiEntry },
		ret:         func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.KprobeMultiReturn },
		attach:      attachKprobeMulti,
		descriptors: sharedPrograms,
	},
	probe.MechanismFentry: {
		entry:       func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.FentryEntry },
		ret:         func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.FexitReturn },
		instance:    setFentry,
		attach:      attachFentry,
		descriptors: ownPrograms,
	},
	probe.MechanismSyscallTracepoints: {
		entry:       func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.SyscallEntry },
		ret:         func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.SyscallReturn },
		attach:      attachSyscalls,
		descriptors: sharedPrograms,
	},
	probe.MechanismUprobe: {
		entry:       func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.UprobeEntry },
		ret:         func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.UprobeReturn },
		instance:    setProbeID,
		attach:      attachUprobe,
		descriptors: ownPrograms,
	},
	probe.MechanismGoReturns: {
		entry:       func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.UprobeEntry },
		ret:         func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.UprobeRetInstruction },
		instance:    setProbeID,
		attach:      attachGoReturns,
		descriptors: func(p Probe) uint64 { return ownPrograms(p) + 2*uint64(len(p.GoReturnOffsets)) },
	},
}

// ownPrograms: two programs with their BTF, and two links of two descriptors each.
func ownPrograms(Probe) uint64 { return 8 }

// sharedPrograms: the mechanism's programs and links are among the shared descriptors.
func sharedPrograms(Probe) uint64 { return 0 }

func setProbeID(s *kretspanSpecs, p Probe) error {
	if err := s.InstanceProbeId.Set(p.ID); err != nil {
		return fmt.Errorf("set instance_probe_id: %w", err)
	}
	return nil
}

// setFentry also tells fexit where the return value is: after the function's arguments.
func setFentry(s *kretspanSpecs, p Probe) error {
	if err := setProbeID(s, p); err != nil {
		return err
	}
	if err := s.FexitRetIndex.Set(uint32(p.ArgCount)); err != nil {
		return fmt.Errorf("set fexit_ret_index: %w", err)
	}
	s.FentryEntry.AttachTo, s.FexitReturn.AttachTo = p.Name, p.Name
	return nil
}

func attachKprobe(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error {
	for _, p := range probes {
		l, err := link.Kretprobe(p.Name, ret, nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, l)
		if l, err = link.Kprobe(p.Name, entry, nil); err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, l)
	}
	return nil
}

// attachKprobeMulti attaches every kprobe through one entry and one return link; the attach
// cookie carries each function's probe id.
func attachKprobeMulti(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error {
	opts := link.KprobeMultiOptions{}
	for _, p := range probes {
		opts.Symbols = append(opts.Symbols, p.Name)
		opts.Cookies = append(opts.Cookies, uint64(p.ID))
	}
	l, err := link.KretprobeMulti(ret, opts)
	if err != nil {
		return fmt.Errorf("attach %d kretprobes with kprobe.multi: %w", len(probes), explainPermission(err))
	}
	t.links = append(t.links, l)
	if l, err = link.KprobeMulti(entry, opts); err != nil {
		return fmt.Errorf("attach %d kprobes with kprobe.multi: %w", len(probes), explainPermission(err))
	}
	t.links = append(t.links, l)
	return nil
}

func attachFentry(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error {
	for _, p := range probes {
		for _, prog := range []*ebpf.Program{ret, entry} {
			l, err := link.AttachTracing(link.TracingOptions{Program: prog})
			if err != nil {
				return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
			}
			t.links = append(t.links, l)
		}
	}
	return nil
}

// attachSyscalls attaches the syscall programs to each syscall's tracepoints; they find the
// probe by syscall number.
func attachSyscalls(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error {
	for _, p := range probes {
		if err := t.maps.SyscallProbes.Put(uint32(p.SyscallNumber), p.ID); err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), err)
		}
		exit, err := link.Tracepoint("syscalls", "sys_exit_"+p.Name, ret, nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, exit)
		enter, err := link.Tracepoint("syscalls", "sys_enter_"+p.Name, entry, nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, enter)
	}
	return nil
}

func attachUprobe(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error {
	for _, p := range probes {
		exe, err := t.executable(p.Binary)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), err)
		}
		l, err := exe.Uretprobe(p.Name, ret, nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err, capSysAdmin))
		}
		t.links = append(t.links, l)
		if l, err = exe.Uprobe(p.Name, entry, nil); err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err, capSysAdmin))
		}
		t.links = append(t.links, l)
	}
	return nil
}

// attachGoReturns puts a uprobe on each RET instruction of a Go function, and its entry uprobe
// past the stack check.
func attachGoReturns(t *Tracer, entry, ret *ebpf.Program, probes []Probe) error {
	for _, p := range probes {
		exe, err := t.executable(p.Binary)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), err)
		}
		for _, offset := range p.GoReturnOffsets {
			l, err := exe.Uprobe(p.Name, ret, &link.UprobeOptions{Offset: offset})
			if err != nil {
				return fmt.Errorf("attach %s return at +%#x: %w", p.Label(), offset, explainPermission(err, capSysAdmin))
			}
			t.links = append(t.links, l)
		}
		l, err := exe.Uprobe(p.Name, entry, &link.UprobeOptions{Offset: p.GoEntryOffset})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err, capSysAdmin))
		}
		t.links = append(t.links, l)
	}
	return nil
}
