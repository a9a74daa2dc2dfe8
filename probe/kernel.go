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
	Fentry, Kprobes bool
	TracefsDir      string

	functionsOnce sync.Once
	functions     []string
	functionsErr  error
}

func (k *Kernel) HaveFentry() bool  { return k.Fentry }
func (k *Kernel) HaveKprobes() bool { return k.Kprobes }

// KernelFunctions lists traceable functions: available_filter_functions where readable (it
// excludes notrace functions), else the text symbols of /proc/kallsyms.
func (k *Kernel) KernelFunctions() ([]string, error) {
	k.functionsOnce.Do(func() {
		k.functions, k.functionsErr = readFunctionList(filepath.Join(k.TracefsDir, "available_filter_functions"), 0)
		if k.functionsErr != nil {
			k.functions, k.functionsErr = readKallsymsText("/proc/kallsyms")
		}
	})
	return k.functions, k.functionsErr
}

// readFunctionList reads one name per line from field column, dropping module tags and duplicates.
func readFunctionList(path string, column int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var names []string
	seen := map[string]bool{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) <= column {
			continue
		}
		name := fields[column]
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return names, nil
}

func readKallsymsText(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("list kernel functions: %w", err)
	}
	defer f.Close()
	var names []string
	seen := map[string]bool{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 3 || (fields[1] != "t" && fields[1] != "T") {
			continue
		}
		name := fields[2]
		// Compiler-made clones (foo.isra.0, foo.cold) are not the function the user means.
		if strings.Contains(name, ".") || seen[name] {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return names, nil
}

// KernelSignature reads a function's prototype from the kernel's BTF.
func (k *Kernel) KernelSignature(name string) (Signature, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return Signature{}, fmt.Errorf("kernel BTF: %w", err)
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
