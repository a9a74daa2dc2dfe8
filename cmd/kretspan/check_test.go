package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// checkJSON is kretspan check --json's output, as a program reading it would decode it.
type checkJSON struct {
	Features []struct {
		Name      string `json:"name"`
		Supported bool   `json:"supported"`
		Reason    string `json:"reason"`
	} `json:"features"`
	Lockdown struct {
		Mode    string `json:"mode"`
		Forbids string `json:"forbids"`
		Reason  string `json:"reason"`
	} `json:"lockdown"`
	Probes []struct {
		Spec    string `json:"spec"`
		Targets []struct {
			Label     string `json:"label"`
			Kind      string `json:"kind"`
			Mechanism string `json:"mechanism"`
		} `json:"targets"`
		Notes []string `json:"notes"`
		Error string   `json:"error"`
	} `json:"probes"`
}

func (c checkJSON) supports(t *testing.T, feature string) bool {
	t.Helper()
	for _, f := range c.Features {
		if f.Name == feature {
			if !f.Supported && f.Reason == "" {
				t.Errorf("%s unsupported without a reason", feature)
			}
			return f.Supported
		}
	}
	t.Fatalf("check --json does not report %q", feature)
	return false
}

// check --json reports features with reasons, the lockdown mode, and for each probe its targets
// and their mechanism; a probe that cannot attach still gets its entry, and exit status 2.
func TestKernelCheckJSON(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	probes := []string{"syscall:openat", "uprobe:" + filepath.Join(dir, "nested") + ":outer",
		"uprobe:" + filepath.Join(dir, "gonested") + ":main.outer", "kprobe:vfs_read", "fentry:vfs_read", "syscall:no_such_syscall"}
	code, stdout, stderr := runCLI(t, append([]string{"check", "--json"}, probes...)...)
	if code != 2 || !strings.Contains(stderr, "probes cannot attach here: ") || !strings.HasSuffix(stderr, "syscall:no_such_syscall\n") {
		t.Errorf("exit status %d, stderr %q; want 2 naming the probes that cannot attach", code, stderr)
	}
	var report checkJSON
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("check --json printed no JSON: %v\n%s", err, stdout)
	}
	if !report.supports(t, "syscall tracepoints") || !report.supports(t, "uprobes") {
		t.Errorf("this kernel's syscall tracepoints and uprobes reported missing:\n%s", stdout)
	}
	if !slices.Contains([]string{"none", "integrity", "confidentiality", "unknown"}, report.Lockdown.Mode) ||
		(report.Lockdown.Mode == "unknown") != (report.Lockdown.Reason != "") ||
		(report.Lockdown.Mode == "confidentiality") != strings.Contains(report.Lockdown.Forbids, "bpf_probe_read_kernel") {
		t.Errorf("lockdown %+v", report.Lockdown)
	}
	kprobe := "error"
	switch {
	case report.supports(t, "kprobe.multi"):
		kprobe = "kprobe.multi"
	case report.supports(t, "kprobes"):
		kprobe = "kprobe"
	}
	fentry := "error"
	if report.supports(t, "fentry/fexit") {
		fentry = "fentry"
	}
	want := []struct{ label, kind, mechanism string }{
		{"syscall:openat", "syscall", "tracepoint"},
		{"uprobe:" + filepath.Join(dir, "nested") + ":outer", "uprobe", "uprobe"},
		{"uprobe:" + filepath.Join(dir, "gonested") + ":main.outer", "uprobe", "uprobe.go-returns"},
		{"kprobe:vfs_read", "kprobe", kprobe},
		{"fentry:vfs_read", "fentry", fentry},
		{"", "", "error"},
	}
	if len(report.Probes) != len(want) {
		t.Fatalf("%d probes reported, want %d:\n%s", len(report.Probes), len(want), stdout)
	}
	for i, p := range report.Probes {
		w := want[i]
		if p.Spec != probes[i] {
			t.Errorf("probe %d is %q, want %q", i, p.Spec, probes[i])
		}
		if w.mechanism == "error" {
			if p.Error == "" || len(p.Targets) != 0 {
				t.Errorf("%s: targets %+v, error %q; want an error alone", p.Spec, p.Targets, p.Error)
			}
			continue
		}
		if p.Error != "" || len(p.Targets) != 1 || p.Targets[0].Label != w.label || p.Targets[0].Kind != w.kind || p.Targets[0].Mechanism != w.mechanism {
			t.Errorf("%s: targets %+v, error %q; want %s, kind %s, by %s", p.Spec, p.Targets, p.Error, w.label, w.kind, w.mechanism)
		}
	}

	// The human form says the same.
	code, stdout, _ = runCLI(t, "check", "syscall:openat", "uprobe:"+filepath.Join(dir, "gonested")+":main.outer")
	lockdown := regexp.MustCompile(`(?m)^lockdown +` + report.Lockdown.Mode + `\b`)
	if code != 0 || !strings.Contains(stdout, "syscall:openat\tsyscall:openat via tracepoint\n") ||
		!strings.Contains(stdout, ":main.outer via uprobe.go-returns\n") || !lockdown.MatchString(stdout) {
		t.Errorf("check: exit status %d\n%s", code, stdout)
	}
}

func TestCheckUsage(t *testing.T) {
	checkOneLineUsage(t, []string{"check", "--bogus"}, "bogus")
	checkOneLineUsage(t, []string{"check", "--json", "nosuchkind:x"}, "unknown probe kind")
	code, stdout, _ := runCLI(t, "check", "--help")
	if code != 0 || !strings.Contains(stdout, "--json") {
		t.Errorf("check --help: %d %q", code, stdout)
	}
}

// list reads what is there and mounts nothing: in a mount namespace without tracefs, kernel
// functions come from kallsyms, and syscalls, which only tracefs lists, name what is missing.
func TestKernelListMountsNothing(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	script := `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null
if grep -q ' tracefs ' /proc/self/mounts; then echo "tracefs still mounted"; exit 3; fi
"$1" list 'vfs_rea*' || exit 4
echo "--- syscalls"; "$1" list 'syscall:openat' 2>&1
echo "--- tracefs mounts: $(grep -c ' tracefs ' /proc/self/mounts)"`
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", filepath.Join(dir, "kretspan")).CombinedOutput()
	if err != nil {
		t.Skipf("no private mount namespace without tracefs here (%v): %s", err, out)
	}
	functions, rest, _ := strings.Cut(string(out), "--- syscalls\n")
	if !strings.Contains(functions, "vfs_read\n") {
		t.Errorf("list 'vfs_rea*' without tracefs:\n%s", functions)
	}
	if !strings.Contains(rest, "tracefs is not mounted") || !strings.Contains(rest, "--- tracefs mounts: 0") {
		t.Errorf("list syscall:openat without tracefs: want an error naming tracefs and no mount:\n%s", rest)
	}
}
