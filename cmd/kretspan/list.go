package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

func runList(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kretspan list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	binary := fs.String("binary", "", "list the function symbols of this binary or library")
	verbose := fs.Bool("v", false, "list each target's arguments with their types, as --args captures them")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "Usage: kretspan list [-v] [--binary PATH] [PATTERN]   (PATTERN: a glob; syscall:GLOB for syscalls; -v: arguments and their types)")
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
	// Listing changes nothing on the system: it reads a tracefs already mounted, else kallsyms.
	tracefs, tracefsErr := bpf.FindTracefs()
	kernel := &probe.Kernel{TracefsDir: tracefs}
	sources := newArgSources(kernel)
	defer sources.Close()
	describe := func(kind probe.Kind, binary string) argParams {
		if !*verbose {
			return nil
		}
		return func(name string) ([]argspec.Param, error) {
			return sources.params(probe.Target{Kind: kind, Name: name, Binary: binary})
		}
	}
	if *binary != "" {
		file, err := probe.ResolveBinary(*binary)
		if err != nil {
			return usageError{err}
		}
		return listMatching(stdout, pattern, "uprobe:"+file+":", describe(probe.KindUprobe, file), func() ([]string, error) {
			symbols, err := probe.FunctionSymbols(file)
			names := make([]string, len(symbols))
			for i, sym := range symbols {
				names[i] = sym.Name
			}
			return names, err
		})
	}
	if rest, ok := strings.CutPrefix(pattern, "syscall:"); ok {
		if tracefsErr != nil {
			return fmt.Errorf("list syscalls: %w", tracefsErr)
		}
		return listMatching(stdout, rest, "syscall:", describe(probe.KindSyscall, ""), kernel.Syscalls)
	}
	return listMatching(stdout, pattern, "", describe(probe.KindKprobe, ""), kernel.KernelFunctions)
}

// argParams describes a target's parameters, for list -v; nil: names only.
type argParams func(name string) ([]argspec.Param, error)

// listMatching prints the names matching pattern (a glob, as in probe specs), each after prefix,
// and with params, each one's parameters below it, as bpftrace -lv does.
func listMatching(stdout io.Writer, pattern, prefix string, params argParams, names func() ([]string, error)) error {
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
		if params != nil {
			writeParams(stdout, name, params)
		}
	}
	return nil
}

// writeParams writes a target's parameters, one a line, saying which --args does not capture.
func writeParams(stdout io.Writer, name string, params argParams) {
	list, err := params(name)
	if err != nil {
		fmt.Fprintf(stdout, "    (arguments unknown: %v)\n", err)
		return
	}
	uncaptured := argspec.Uncaptured(list)
	for _, p := range list {
		line := "    " + p.Type
		if !strings.HasSuffix(line, "*") {
			line += " "
		}
		line += p.Name
		if why := uncaptured[p.Name]; why != "" {
			line += "    (not captured: " + why + ")"
		}
		fmt.Fprintln(stdout, line)
	}
}

// checkReport is what kretspan check --json prints.
type checkReport struct {
	Features []checkFeature `json:"features"`
	Lockdown checkLockdown  `json:"lockdown"`
	Probes   []checkProbe   `json:"probes"`
}

type checkFeature struct {
	Name      string `json:"name"`
	Supported bool   `json:"supported"`
	Reason    string `json:"reason,omitempty"` // why not, when unsupported
}

type checkLockdown struct {
	Mode    string `json:"mode"`              // none, integrity, confidentiality or unknown
	Forbids string `json:"forbids,omitempty"` // what of kretspan's needs the mode forbids
	Reason  string `json:"reason,omitempty"`  // why the mode is unknown
}

type checkProbe struct {
	Spec    string        `json:"spec"`
	Targets []checkTarget `json:"targets,omitempty"`
	Notes   []string      `json:"notes,omitempty"`
	Error   string        `json:"error,omitempty"` // why it cannot attach
}

type checkTarget struct {
	Label     string          `json:"label"`
	Kind      probe.Kind      `json:"kind"`
	Mechanism probe.Mechanism `json:"mechanism"`
}

const checkUsage = `Usage: kretspan check [--json] [PROBE...]
  --json   print {"features":[{"name","supported","reason"}], "lockdown":{"mode","forbids","reason"},
           "probes":[{"spec","targets":[{"label","kind","mechanism"}],"notes","error"}]}`

func runCheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kretspan check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, checkUsage)
			return err
		}
		return usagef("check: %v", err)
	}
	args = fs.Args()
	specs := make([]probe.Spec, len(args))
	for i, arg := range args {
		spec, err := probe.Parse(arg)
		if err != nil {
			return usageError{err}
		}
		specs[i] = spec
	}
	if err := bpf.CheckPrivileges(); err != nil {
		return err
	}
	if err := bpf.RemoveMemlock(); err != nil {
		return err
	}
	f := bpf.DetectFeatures()
	report := checkReport{Lockdown: checkLockdown{Mode: f.Lockdown, Forbids: f.LockdownForbids()}, Probes: []checkProbe{}}
	if f.LockdownErr != nil {
		report.Lockdown.Reason = f.LockdownErr.Error()
	}
	for _, row := range []struct {
		name string
		err  error
	}{
		{"BTF", f.BTF}, {"ring buffer", f.RingBuffer}, {"kprobes", f.Kprobes}, {"kprobe.multi", f.KprobeMulti},
		{"fentry/fexit", f.Fentry}, {"syscall tracepoints", f.Tracepoints}, {"uprobes", f.Uprobes},
		{"task storage", f.TaskStorage}, {"cgroup v2", f.CgroupV2}, {"scheduler hooks (tp_btf)", f.SchedTpBtf},
		{"scheduler hooks (raw tracepoints)", f.SchedRawTracepoints},
	} {
		feature := checkFeature{Name: row.name, Supported: row.err == nil}
		if row.err != nil {
			feature.Reason = row.err.Error()
		}
		report.Features = append(report.Features, feature)
	}
	kernel := f.Kernel()
	var failed []string
	for _, spec := range specs {
		result := checkProbe{Spec: spec.Raw}
		targets, notes, err := probe.Resolve([]probe.Spec{spec}, kernel, math.MaxInt)
		if err != nil {
			result.Error = err.Error()
			failed = append(failed, spec.Raw)
		}
		result.Notes = notes
		for _, t := range targets {
			result.Targets = append(result.Targets, checkTarget{Label: t.Label(), Kind: t.Kind, Mechanism: t.Mechanism})
		}
		report.Probes = append(report.Probes, result)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
	} else {
		printCheck(stdout, report)
	}
	if len(failed) > 0 {
		return usagef("%d of %d probes cannot attach here: %s", len(failed), len(args), strings.Join(failed, ", "))
	}
	return nil
}

func printCheck(stdout io.Writer, report checkReport) {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, f := range report.Features {
		status := "yes"
		if !f.Supported {
			status = "no: " + f.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\n", f.Name, status)
	}
	lockdown := report.Lockdown.Mode
	switch {
	case report.Lockdown.Forbids != "":
		lockdown += ": forbids " + report.Lockdown.Forbids
	case report.Lockdown.Reason != "":
		lockdown += ": " + report.Lockdown.Reason
	}
	fmt.Fprintf(tw, "lockdown\t%s\n", lockdown)
	tw.Flush()
	for _, p := range report.Probes {
		if p.Error != "" {
			fmt.Fprintf(stdout, "%s\tcannot attach: %s\n", p.Spec, p.Error)
			continue
		}
		for _, note := range p.Notes {
			fmt.Fprintln(stdout, note)
		}
		for _, t := range p.Targets {
			fmt.Fprintf(stdout, "%s\t%s via %s\n", p.Spec, t.Label, t.Mechanism)
		}
	}
}
