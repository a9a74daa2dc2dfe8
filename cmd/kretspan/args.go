package main

import (
	"errors"
	"fmt"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/probe"
	"github.com/kretspan/kretspan/probe/userargs"
)

// argSources describe the targets' parameters: syscalls' format files under the kernel's tracefs,
// kernel functions' BTF, user functions' debug information. Each binary is opened and its
// debug information indexed once, however many of its functions are described; Close releases
// them.
type argSources struct {
	kernel   *probe.Kernel
	binaries map[string]*userargs.Binary
}

func newArgSources(kernel *probe.Kernel) *argSources {
	return &argSources{kernel: kernel, binaries: map[string]*userargs.Binary{}}
}

// params describes a target's parameters, for --args and list -v.
func (s *argSources) params(t probe.Target) ([]argspec.Param, error) {
	switch t.Kind {
	case probe.KindSyscall:
		if s.kernel.TracefsDir == "" {
			return nil, fmt.Errorf("syscall %s's arguments: tracefs is not mounted", t.Name)
		}
		return argspec.SyscallParams(s.kernel.TracefsDir, t.Name)
	case probe.KindKprobe, probe.KindFentry:
		spec, err := s.kernel.BTF()
		if err != nil {
			return nil, fmt.Errorf("%s's arguments: %w", t.Name, err)
		}
		return argspec.KernelParams(spec, t.Name)
	case probe.KindUprobe:
		binary, ok := s.binaries[t.Binary]
		if !ok {
			var err error
			if binary, err = userargs.Open(t.Binary); err != nil {
				return nil, fmt.Errorf("arguments of %s: %w", t.Name, err)
			}
			s.binaries[t.Binary] = binary
		}
		return argspec.UserParams(binary, t.Name)
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

// Close releases the binaries opened for their debug information.
func (s *argSources) Close() error {
	var errs []error
	for _, binary := range s.binaries {
		errs = append(errs, binary.Close())
	}
	clear(s.binaries)
	return errors.Join(errs...)
}
