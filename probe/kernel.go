package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// Kernel is the running kernel as a System. The mechanism flags come from feature probes
// (package bpf); the lists are read once, on first use.
type Kernel struct {
	Fentry, Kprobes, KprobeMulti bool
	TracefsDir                   string

	functionsOnce sync.Once
	functions     []string
	definitions   map[string]int // of names defined more than once
	functionsErr  error

	// LoadKernelSpec hands out a fresh copy, re-indexing all of the kernel's types each time:
	// one copy serves every lookup (a 1,000-function glob took 30 s without it).
	btfOnce sync.Once
	btf     *btf.Spec
	btfErr  error
}

func (k *Kernel) HaveFentry() bool      { return k.Fentry }
func (k *Kernel) HaveKprobes() bool     { return k.Kprobes }
func (k *Kernel) HaveKprobeMulti() bool { return k.KprobeMulti }

// KernelFunctions lists traceable functions: available_filter_functions where readable (it
// excludes notrace functions), else the text symbols of /proc/kallsyms.
func (k *Kernel) KernelFunctions() ([]string, error) {
	k.functionsOnce.Do(func() {
		k.functions, k.definitions, k.functionsErr = readFunctionList(filepath.Join(k.TracefsDir, "available_filter_functions"))
		if k.functionsErr != nil {
			k.functions, k.definitions, k.functionsErr = readKallsymsText("/proc/kallsyms")
		}
	})
	return k.functions, k.functionsErr
}

// KernelFunctionDefinitions counts the kernel's functions named name, one of KernelFunctions:
// static functions of different files may share a name.
func (k *Kernel) KernelFunctionDefinitions(name string) int {
	k.KernelFunctions() // reads the list, once
	return max(k.definitions[name], 1)
}

// functionNames collects names in order of first appearance, counting those seen more than once.
type functionNames struct {
	names       []string
	seen        map[string]bool
	definitions map[string]int // only names defined more than once
}

func newFunctionNames() *functionNames {
	return &functionNames{seen: map[string]bool{}, definitions: map[string]int{}}
}

func (f *functionNames) add(name string) {
	if !f.seen[name] {
		f.seen[name] = true
		f.names = append(f.names, name)
		return
	}
	f.definitions[name] = max(f.definitions[name], 1) + 1
}

// readFunctionList reads available_filter_functions: one name per line, then module tags.
func readFunctionList(path string) ([]string, map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	list := newFunctionNames()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if fields := strings.Fields(scanner.Text()); len(fields) > 0 {
			list.add(fields[0])
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return list.names, list.definitions, nil
}

func readKallsymsText(path string) ([]string, map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("list kernel functions: %w", err)
	}
	defer f.Close()
	list := newFunctionNames()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 3 || (fields[1] != "t" && fields[1] != "T") {
			continue
		}
		// Compiler-made clones (foo.isra.0, foo.cold) are not the function the user means.
		if name := fields[2]; !strings.Contains(name, ".") {
			list.add(name)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return list.names, list.definitions, nil
}

// BTF is the kernel's BTF, loaded on first use.
func (k *Kernel) BTF() (*btf.Spec, error) {
	k.btfOnce.Do(func() { k.btf, k.btfErr = btf.LoadKernelSpec() })
	if k.btfErr != nil {
		return nil, fmt.Errorf("kernel BTF: %w", k.btfErr)
	}
	return k.btf, nil
}

// KernelSignature reads a function's prototype from the kernel's BTF.
func (k *Kernel) KernelSignature(name string) (Signature, error) {
	spec, err := k.BTF()
	if err != nil {
		return Signature{}, err
	}
	var fn *btf.Func
	if err := spec.TypeByName(name, &fn); err != nil {
		return Signature{}, fmt.Errorf("function %s has no BTF (needed for fentry): %w", name, err)
	}
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return Signature{}, fmt.Errorf("function %s: BTF type is %T, not a prototype", name, fn.Type)
	}
	sig := Signature{ArgCount: len(proto.Params)}
	if integer, ok := btf.UnderlyingType(proto.Return).(*btf.Int); ok && integer.Size == 4 && integer.Encoding&btf.Signed != 0 {
		sig.RetInt32 = true
	}
	return sig, nil
}

// Syscalls lists the syscalls with enter/exit tracepoints.
func (k *Kernel) Syscalls() ([]string, error) {
	dir := filepath.Join(k.TracefsDir, "events", "syscalls")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no syscall tracepoints in %s: the kernel needs CONFIG_FTRACE_SYSCALLS", dir)
		}
		return nil, fmt.Errorf("list syscall tracepoints: %w", err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutPrefix(e.Name(), "sys_enter_"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}
