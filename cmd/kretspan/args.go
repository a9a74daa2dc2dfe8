package main

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/probe"
)

// argSources describe the targets' parameters: syscalls' format files under tracefs, kernel
// functions' BTF, user functions' debug information.
type argSources struct {
	tracefs    string
	kernelOnce sync.Once
	kernel     *btf.Spec
	kernelErr  error
}

func (s *argSources) kernelSpec() (*btf.Spec, error) {
	s.kernelOnce.Do(func() { s.kernel, s.kernelErr = btf.LoadKernelSpec() })
	return s.kernel, s.kernelErr
}

// params describes a target's parameters, from the same sources --args and list -v use.
func (s *argSources) params(t probe.Target) ([]argspec.Param, error) {
	switch t.Kind {
	case probe.KindSyscall:
		if s.tracefs == "" {
			return nil, fmt.Errorf("syscall %s's arguments: tracefs is not mounted", t.Name)
		}
		return argspec.SyscallParams(s.tracefs, t.Name)
	case probe.KindKprobe, probe.KindFentry:
		spec, err := s.kernelSpec()
		if err != nil {
			return nil, fmt.Errorf("%s's arguments: the kernel's BTF: %w", t.Name, err)
		}
		return argspec.KernelParams(spec, t.Name)
	case probe.KindUprobe:
		return argspec.UserParams(t.Binary, t.Name)
	}
	return nil, fmt.Errorf("%s: no description of its arguments", t.Label())
}

// argPlan compiles what a target captures: the arguments its spec names, or every readable one
// with all; nil when it captures none.
func (s *argSources) argPlan(t probe.Target, all bool) (*argspec.Plan, error) {
	if len(t.Spec.Args) == 0 && !all {
		return nil, nil
	}
	params, err := s.params(t)
	if err != nil {
		return nil, err
	}
	plan, err := argspec.Compile(t.Name, params, t.Spec.Args)
	if err != nil {
		return nil, err
	}
	if len(plan.Args) == 0 {
		return nil, nil // nothing readable: no pointer is exported as an address
	}
	return plan, nil
}
