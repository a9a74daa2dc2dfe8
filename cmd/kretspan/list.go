package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

func runList(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kretspan list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	binary := fs.String("binary", "", "list the function symbols of this binary or library")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: kretspan list [--binary PATH] [PATTERN]   (PATTERN: a glob; syscall:GLOB for syscalls)")
			return err
		}
		return usagef("list: %v", err)
	}
	if fs.NArg() > 1 {
		return usagef("list takes at most one PATTERN, got %d", fs.NArg())
	}
	pattern := "*"
	if fs.NArg() == 1 {
		pattern = fs.Arg(0)
	}
	if *binary != "" {
		file, err := probe.ResolveBinary(*binary)
		if err != nil {
			return usageError{err}
		}
		return listMatching(stdout, pattern, "uprobe:"+file+":", func() ([]string, error) {
			symbols, err := probe.FunctionSymbols(file)
			names := make([]string, len(symbols))
			for i, sym := range symbols {
				names[i] = sym.Name
			}
			return names, err
		})
	}
	kernel := &probe.Kernel{TracefsDir: bpf.DetectFeatures().TracefsDir}
	if rest, ok := strings.CutPrefix(pattern, "syscall:"); ok {
		return listMatching(stdout, rest, "syscall:", kernel.Syscalls)
	}
	return listMatching(stdout, pattern, "", kernel.KernelFunctions)
}

// listMatching prints the names matching pattern (a glob, as in probe specs), each after prefix.
func listMatching(stdout io.Writer, pattern, prefix string, names func() ([]string, error)) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return usagef("bad pattern %q: %v", pattern, err)
	}
	all, err := names()
	if err != nil {
		return err
	}
	matched, err := probe.Spec{Raw: pattern, Pattern: pattern}.Match(all, math.MaxInt)
	if err != nil {
		return usageError{err}
	}
	for _, name := range matched {
		fmt.Fprintln(stdout, prefix+name)
	}
	return nil
}

func runCheck(args []string, stdout io.Writer) error {
	if err := bpf.CheckPrivileges(); err != nil {
		return err
	}
	if err := bpf.RemoveMemlock(); err != nil {
		return err
	}
	f := bpf.DetectFeatures()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, row := range []struct {
		name string
		err  error
	}{
		{"BTF", f.BTF}, {"ring buffer", f.RingBuffer}, {"kprobes", f.Kprobes}, {"kprobe.multi", f.KprobeMulti},
		{"fentry/fexit", f.Fentry}, {"syscall tracepoints", f.Tracepoints}, {"uprobes", f.Uprobes},
		{"task storage", f.TaskStorage},
	} {
		status := "yes"
		if row.err != nil {
			status = "no: " + row.err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\n", row.name, status)
	}
	tw.Flush()
	if len(args) == 0 {
		return nil
	}
	kernel := &probe.Kernel{Fentry: f.Fentry == nil, Kprobes: f.Kprobes == nil, KprobeMulti: f.KprobeMulti == nil, TracefsDir: f.TracefsDir}
	var failed []string
	for _, arg := range args {
		spec, err := probe.Parse(arg)
		if err != nil {
			return usageError{err}
		}
		targets, notes, err := probe.Resolve([]probe.Spec{spec}, kernel, math.MaxInt)
		if err != nil {
			fmt.Fprintf(stdout, "%s\tcannot attach: %v\n", arg, err)
			failed = append(failed, arg)
			continue
		}
		for _, note := range notes {
			fmt.Fprintln(stdout, note)
		}
		printTargets(stdout, f, targets)
	}
	if len(failed) > 0 {
		return usagef("%d of %d probes cannot attach here: %s", len(failed), len(args), strings.Join(failed, ", "))
	}
	return nil
}

func printTargets(stdout io.Writer, f bpf.Features, targets []probe.Target) {
	for _, t := range targets {
		mechanism := string(t.Kind)
		if t.Kind == probe.KindKprobe && f.KprobeMulti == nil {
			mechanism += " (kprobe.multi)"
		}
		if t.GoReturnOffsets != nil {
			mechanism += fmt.Sprintf(" (Go: uprobes on %d RET instructions)", len(t.GoReturnOffsets))
		}
		fmt.Fprintf(stdout, "%s\t%s via %s\n", t.Spec.Raw, t.Label(), mechanism)
	}
}
