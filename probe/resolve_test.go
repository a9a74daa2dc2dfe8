package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// fakeSystem is a System with made-up kernel functions, BTF and syscall tracepoints.
type fakeSystem struct {
	functions  []string
	duplicated map[string]int       // definitions of names defined more than once
	signatures map[string]Signature // functions without an entry have no BTF
	syscalls   []string
	fentry     bool
	kprobes    bool
	multi      bool // kprobe.multi
	listErr    error
}

func (f *fakeSystem) KernelFunctions() ([]string, error) { return f.functions, f.listErr }
func (f *fakeSystem) KernelFunctionDefinitions(name string) int {
	return max(f.duplicated[name], 1)
}
func (f *fakeSystem) KernelSignature(name string) (Signature, error) {
	if sig, ok := f.signatures[name]; ok {
		return sig, nil
	}
	return Signature{}, fmt.Errorf("function %s has no BTF", name)
}
func (f *fakeSystem) Syscalls() ([]string, error) { return f.syscalls, f.listErr }
func (f *fakeSystem) HaveFentry() bool            { return f.fentry }
func (f *fakeSystem) HaveKprobes() bool           { return f.kprobes }
func (f *fakeSystem) HaveKprobeMulti() bool       { return f.multi }

func newFakeSystem() *fakeSystem {
	return &fakeSystem{
		functions: []string{"vfs_read", "vfs_write", "vfs_readv", "do_sys_openat2", "kernel_clone", "no_btf_fn", "vfs_nobtf"},
		signatures: map[string]Signature{
			"vfs_read":       {ArgCount: 4},
			"vfs_write":      {ArgCount: 4},
			"vfs_readv":      {ArgCount: 5},
			"do_sys_openat2": {ArgCount: 3, RetInt32: false},
			"kernel_clone":   {ArgCount: 1},
		},
		syscalls: []string{"close", "open", "open_by_handle_at", "open_tree", "openat", "openat2", "read", "write", "made_up_syscall"},
		fentry:   true,
		kprobes:  true,
	}
}

func mustParse(t *testing.T, raws ...string) []Spec {
	t.Helper()
	specs := make([]Spec, len(raws))
	for i, raw := range raws {
		spec, err := Parse(raw)
		if err != nil {
			t.Fatalf("Parse(%q): %v", raw, err)
		}
		specs[i] = spec
	}
	return specs
}

func labels(targets []Target) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = t.Label()
	}
	return out
}

func checkIDs(t *testing.T, targets []Target) {
	t.Helper()
	for i, target := range targets {
		if target.ID != uint32(i+1) {
			t.Errorf("target %d (%s) has ID %d, want %d", i, target.Label(), target.ID, i+1)
		}
	}
}

func TestResolveBareFunctionMechanism(t *testing.T) {
	for _, tc := range []struct {
		name            string
		fentry, kprobes bool
		want            Kind
		wantErr         string
	}{
		{"both prefers fentry", true, true, KindFentry, ""},
		{"fentry only", true, false, KindFentry, ""},
		{"kprobes only", false, true, KindKprobe, ""},
		{"neither", false, false, "", "neither fentry nor kprobes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newFakeSystem()
			sys.fentry, sys.kprobes = tc.fentry, tc.kprobes
			targets, notes, err := Resolve(mustParse(t, "vfs_read"), sys, 100)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if targets != nil || notes != nil {
					t.Errorf("targets %v notes %v returned with the error", targets, notes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(targets) != 1 {
				t.Fatalf("targets = %v", labels(targets))
			}
			got := targets[0]
			if got.Kind != tc.want || got.Name != "vfs_read" || got.ID != 1 || !got.ReturnsErrno || got.ArgCount != 4 {
				t.Errorf("target = %+v", got)
			}
			if got.Label() != string(tc.want)+":vfs_read" {
				t.Errorf("label %q", got.Label())
			}
			if want := "vfs_read: using " + string(tc.want); !slices.Contains(notes, want) {
				t.Errorf("notes %q, want %q", notes, want)
			}
		})
	}
}

func TestResolveExplicitMechanismUnavailable(t *testing.T) {
	sys := newFakeSystem()
	sys.kprobes = false
	_, _, err := Resolve(mustParse(t, "kprobe:vfs_read"), sys, 100)
	if err == nil || !strings.Contains(err.Error(), "no kprobes") || !strings.Contains(err.Error(), "fentry:vfs_read") {
		t.Errorf("kprobe: without kprobes: err = %v", err)
	}

	sys = newFakeSystem()
	sys.fentry = false
	_, _, err = Resolve(mustParse(t, "fentry:vfs_read"), sys, 100)
	if err == nil || !strings.Contains(err.Error(), "does not allow fentry") || !strings.Contains(err.Error(), "kprobe:vfs_read") {
		t.Errorf("fentry: without fentry: err = %v", err)
	}

	// An explicit kprobe: on a kernel that has both uses kprobes, with no mechanism note.
	targets, notes, err := Resolve(mustParse(t, "kprobe:vfs_read"), newFakeSystem(), 100)
	if err != nil || len(targets) != 1 || targets[0].Kind != KindKprobe {
		t.Fatalf("kprobe:vfs_read = %+v, %v", targets, err)
	}
	if len(notes) != 0 {
		t.Errorf("notes for an explicit mechanism: %q", notes)
	}
}

func TestResolveForkRename(t *testing.T) {
	// A new kernel has kernel_clone; the kretprobe example's _do_fork still works, with a note.
	sys := newFakeSystem()
	targets, notes, err := Resolve(mustParse(t, "kprobe:_do_fork"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Name != "kernel_clone" || targets[0].Kind != KindKprobe {
		t.Fatalf("targets %v", labels(targets))
	}
	if targets[0].Spec.Raw != "kprobe:_do_fork" {
		t.Errorf("target spec %q, want the user's", targets[0].Spec.Raw)
	}
	if want := "_do_fork is called kernel_clone in this kernel; probing kernel_clone"; !slices.Contains(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}

	// And the reverse on an old kernel.
	sys = newFakeSystem()
	sys.functions = []string{"_do_fork", "vfs_read"}
	sys.signatures["_do_fork"] = Signature{ArgCount: 1}
	targets, notes, err = Resolve(mustParse(t, "kernel_clone"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Name != "_do_fork" || targets[0].Kind != KindFentry {
		t.Fatalf("targets %v", labels(targets))
	}
	if want := "kernel_clone is called _do_fork in this kernel; probing _do_fork"; !slices.Contains(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}

	// No rename when neither exists.
	sys.functions = []string{"vfs_read"}
	if _, _, err := Resolve(mustParse(t, "kernel_clone"), sys, 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	// A glob is never renamed.
	sys.functions = []string{"_do_fork"}
	if _, _, err := Resolve(mustParse(t, "kernel_clon?"), sys, 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("glob err = %v, want ErrNotFound", err)
	}
}

func TestResolveGlobsAndIDs(t *testing.T) {
	sys := newFakeSystem()
	targets, _, err := Resolve(mustParse(t, "kprobe:vfs_*", "syscall:openat", "fentry:do_sys_openat2"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kprobe:vfs_read", "kprobe:vfs_write", "kprobe:vfs_readv", "kprobe:vfs_nobtf", "syscall:openat", "fentry:do_sys_openat2"}
	if !slices.Equal(labels(targets), want) {
		t.Errorf("targets %q, want %q", labels(targets), want)
	}
	checkIDs(t, targets)
	// kprobes do not need BTF: vfs_nobtf is kept, with no signature.
	if nobtf := targets[3]; nobtf.ArgCount != 0 || !nobtf.ReturnsErrno {
		t.Errorf("vfs_nobtf target %+v", nobtf)
	}
}

func TestResolveFentryGlobSkipsFunctionsWithoutBTF(t *testing.T) {
	targets, _, err := Resolve(mustParse(t, "fentry:vfs_*"), newFakeSystem(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"fentry:vfs_read", "fentry:vfs_write", "fentry:vfs_readv"}; !slices.Equal(labels(targets), want) {
		t.Errorf("targets %q, want %q", labels(targets), want)
	}
	if targets[2].ArgCount != 5 {
		t.Errorf("vfs_readv ArgCount %d, want 5 from its signature", targets[2].ArgCount)
	}
	// An exact fentry spec without BTF is an error.
	if _, _, err := Resolve(mustParse(t, "fentry:no_btf_fn"), newFakeSystem(), 100); err == nil || !strings.Contains(err.Error(), "no BTF") {
		t.Errorf("exact fentry without BTF: err = %v", err)
	}
	// So is a bare FUNC that resolves to fentry.
	if _, _, err := Resolve(mustParse(t, "no_btf_fn"), newFakeSystem(), 100); err == nil {
		t.Error("bare FUNC without BTF on an fentry kernel resolved")
	}
}

// Static functions of different files may share a name, which kprobes and fentry cannot tell apart.
func TestResolveFunctionsDefinedMoreThanOnce(t *testing.T) {
	sys := newFakeSystem()
	sys.duplicated = map[string]int{"vfs_write": 3}
	targets, notes, err := Resolve(mustParse(t, "kprobe:vfs_*"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kprobe:vfs_read", "kprobe:vfs_readv", "kprobe:vfs_nobtf"}; !slices.Equal(labels(targets), want) {
		t.Errorf("targets %q, want %q", labels(targets), want)
	}
	checkIDs(t, targets)
	if len(notes) != 1 || !strings.Contains(notes[0], "skipping 1 functions") || !strings.Contains(notes[0], "vfs_write") {
		t.Errorf("notes %q, want one naming the skipped vfs_write", notes)
	}
	for _, spec := range []string{"kprobe:vfs_write", "fentry:vfs_write", "vfs_write"} {
		if _, _, err := Resolve(mustParse(t, spec), sys, 100); err == nil || !strings.Contains(err.Error(), "3 functions named vfs_write") {
			t.Errorf("%s: err = %v, want the 3 definitions named", spec, err)
		}
	}
	sys.duplicated["vfs_read"], sys.duplicated["vfs_readv"], sys.duplicated["vfs_nobtf"] = 2, 2, 2
	if _, _, err := Resolve(mustParse(t, "kprobe:vfs_*"), sys, 100); !errors.Is(err, ErrNotFound) {
		t.Errorf("a glob of only ambiguous names: err = %v, want ErrNotFound", err)
	}
}

func TestKernelFunctionListCountsDefinitions(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "available_filter_functions")
	if err := os.WriteFile(list, []byte("vfs_read\ncmask_show\nvfs_write\ncmask_show\ncmask_show\nbtrfs_show [btrfs]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &Kernel{TracefsDir: dir}
	names, err := k.KernelFunctions()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vfs_read", "cmask_show", "vfs_write", "btrfs_show"}; !slices.Equal(names, want) {
		t.Errorf("functions %q, want %q", names, want)
	}
	for name, want := range map[string]int{"vfs_read": 1, "cmask_show": 3, "btrfs_show": 1} {
		if got := k.KernelFunctionDefinitions(name); got != want {
			t.Errorf("%s: %d definitions, want %d", name, got, want)
		}
	}
	if got := (&Kernel{TracefsDir: dir}).KernelFunctionDefinitions("cmask_show"); got != 3 {
		t.Errorf("cmask_show before the list was read: %d definitions, want 3", got)
	}
}

// A bare glob takes kprobe.multi where the kernel has it: one link for every match, where fentry
// loads a program per function. A bare name keeps preferring fentry.
func TestResolveBareGlobPrefersKprobeMulti(t *testing.T) {
	sys := newFakeSystem()
	sys.multi = true
	targets, notes, err := Resolve(mustParse(t, "vfs_*", "do_sys_openat2"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kprobe:vfs_read", "kprobe:vfs_write", "kprobe:vfs_readv", "kprobe:vfs_nobtf", "fentry:do_sys_openat2"}; !slices.Equal(labels(targets), want) {
		t.Errorf("targets %q, want %q", labels(targets), want)
	}
	if !slices.Contains(notes, "vfs_*: using kprobe") {
		t.Errorf("notes %q, want the glob's mechanism named", notes)
	}
	sys.multi = false
	if targets, _, err = Resolve(mustParse(t, "vfs_*"), sys, 100); err != nil || targets[0].Kind != KindFentry {
		t.Errorf("without kprobe.multi: %q, %v; want fentry", labels(targets), err)
	}
}

func TestResolveGlobOfOnlyUnattachableTargetsIsAnError(t *testing.T) {
	sys := newFakeSystem()
	if targets, _, err := Resolve(mustParse(t, "fentry:no_btf_*"), sys, 100); err == nil {
		t.Errorf("fentry:no_btf_* resolved to %q with no error", labels(targets))
	}
	if targets, _, err := Resolve(mustParse(t, "syscall:made_up_*"), sys, 100); err == nil {
		t.Errorf("syscall:made_up_* resolved to %q with no error", labels(targets))
	}
}

func TestResolveDuplicates(t *testing.T) {
	sys := newFakeSystem()
	// Two exact specs naming the same target: an error, naming both.
	for _, pair := range [][]string{
		{"syscall:openat", "syscall:openat"},
		{"vfs_read", "fentry:vfs_read"}, // the bare one resolves to fentry too
		{"kprobe:_do_fork", "kprobe:kernel_clone"},
	} {
		_, _, err := Resolve(mustParse(t, pair...), sys, 100)
		if err == nil || !strings.Contains(err.Error(), "duplicate") || !strings.Contains(err.Error(), pair[0]) || !strings.Contains(err.Error(), pair[1]) {
			t.Errorf("%q: err = %v, want a duplicate error naming both", pair, err)
		}
	}
	// The same function through two mechanisms is two targets.
	targets, _, err := Resolve(mustParse(t, "kprobe:vfs_read", "fentry:vfs_read"), sys, 100)
	if err != nil || len(targets) != 2 {
		t.Errorf("kprobe+fentry of one function: %q, %v", labels(targets), err)
	}
	// Overlapping globs dedupe: the first spec keeps the target.
	targets, _, err = Resolve(mustParse(t, "kprobe:vfs_read*", "kprobe:vfs_*", "kprobe:vfs_write"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kprobe:vfs_read", "kprobe:vfs_readv", "kprobe:vfs_write", "kprobe:vfs_nobtf"}; !slices.Equal(labels(targets), want) {
		t.Errorf("targets %q, want %q", labels(targets), want)
	}
	checkIDs(t, targets)
	if targets[0].Spec.Raw != "kprobe:vfs_read*" || targets[2].Spec.Raw != "kprobe:vfs_*" {
		t.Errorf("owning specs %q, %q", targets[0].Spec.Raw, targets[2].Spec.Raw)
	}
	targets, _, err = Resolve(mustParse(t, "syscall:*open*", "syscall:open*"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"syscall:open", "syscall:open_by_handle_at", "syscall:open_tree", "syscall:openat", "syscall:openat2"}; !slices.Equal(labels(targets), want) {
		t.Errorf("targets %q, want %q", labels(targets), want)
	}
}

func TestResolveSyscalls(t *testing.T) {
	sys := newFakeSystem()
	// The numbers are this architecture's: amd64 and arm64 number openat 257 and 56.
	if got := mustResolveOne(t, "syscall:openat", sys, 100); got.SyscallNumber != map[string]int{"amd64": 257, "arm64": 56}[runtime.GOARCH] || got.Kind != KindSyscall || got.Name != "openat" || !got.ReturnsErrno || got.ID != 1 || got.Label() != "syscall:openat" {
		t.Errorf("syscall:openat = %+v", got)
	}

	targets, _, err := Resolve(mustParse(t, "syscall:read", "syscall:*open*", "syscall:write"), sys, 100)
	if err != nil {
		t.Fatal(err)
	}
	numbers := map[string]int{}
	for _, target := range targets {
		numbers[target.Name] = target.SyscallNumber
	}
	// Of the fake's tracepoints, those this architecture has: arm64 has no open.
	want := map[string]int{}
	for _, name := range []string{"read", "open", "open_by_handle_at", "open_tree", "openat", "openat2", "write"} {
		if nr, ok := syscallNumbers[name]; ok {
			want[name] = nr
		}
	}
	if fmt.Sprint(numbers) != fmt.Sprint(want) {
		t.Errorf("numbers %v, want %v", numbers, want)
	}
	checkIDs(t, targets)
	if targets[0].Name != "read" || targets[len(targets)-1].Name != "write" {
		t.Errorf("order %q", labels(targets))
	}

	// A tracepoint whose number kretspan does not know: an error when named exactly; a glob skips it
	// (TestResolveGlobOfOnlyUnattachableTargetsIsAnError: and fails when nothing else matches).
	if _, _, err := Resolve(mustParse(t, "syscall:made_up_syscall"), sys, 100); err == nil || !strings.Contains(err.Error(), "does not know its number") {
		t.Errorf("unknown number: err = %v", err)
	}
}

func TestResolveNotFound(t *testing.T) {
	sys := newFakeSystem()
	for _, raw := range []string{"no_such_fn", "kprobe:no_such_fn", "fentry:no_such_*", "syscall:nosuch", "syscall:zz*"} {
		targets, notes, err := Resolve(mustParse(t, "vfs_read", raw), sys, 100)
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v, want it to wrap ErrNotFound", raw, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", raw)) {
			t.Errorf("%s: error %q does not name the probe", raw, err)
		}
		if targets != nil || notes != nil {
			t.Errorf("%s: targets/notes returned with the error", raw)
		}
	}
}

func TestResolveListErrorsPropagate(t *testing.T) {
	sys := newFakeSystem()
	sys.listErr = errors.New("tracefs not mounted")
	for _, raw := range []string{"vfs_read", "syscall:read"} {
		if _, _, err := Resolve(mustParse(t, raw), sys, 100); err == nil || !strings.Contains(err.Error(), "tracefs not mounted") {
			t.Errorf("%s: err = %v", raw, err)
		}
	}
}

func TestResolveLimits(t *testing.T) {
	sys := newFakeSystem()
	// One glob over the limit: Match's error.
	_, _, err := Resolve(mustParse(t, "kprobe:vfs_*"), sys, 3)
	if err == nil || !strings.Contains(err.Error(), "matches more than 3") {
		t.Errorf("glob over limit: err = %v", err)
	}
	// Each spec within the limit, the total over it.
	_, _, err = Resolve(mustParse(t, "kprobe:vfs_*", "syscall:open*"), sys, 5)
	if err == nil || !strings.Contains(err.Error(), "9 targets in all, more than --max-glob 5") {
		t.Errorf("total over limit: err = %v", err)
	}
	// Exactly at the limit is fine.
	targets, _, err := Resolve(mustParse(t, "kprobe:vfs_*", "syscall:openat"), sys, 5)
	if err != nil || len(targets) != 5 {
		t.Errorf("at the limit: %q, %v", labels(targets), err)
	}
}

// mustResolveOne resolves a spec that must yield exactly one target and no notes.
func mustResolveOne(t *testing.T, raw string, sys System, limit int) Target {
	t.Helper()
	targets, notes, err := Resolve(mustParse(t, raw), sys, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 0 {
		t.Errorf("notes %q", notes)
	}
	if len(targets) != 1 {
		t.Fatalf("targets %q", labels(targets))
	}
	return targets[0]
}

func TestResolveMechanism(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		multi bool
		want  Mechanism
	}{
		{"kprobe:vfs_read", false, MechanismKprobe},
		{"kprobe:vfs_read", true, MechanismKprobeMulti}, // a single function too: one link pair for all
		{"kprobe:vfs_*", true, MechanismKprobeMulti},
		{"fentry:vfs_read", true, MechanismFentry},
		{"vfs_read", true, MechanismFentry},
		{"vfs_*", true, MechanismKprobeMulti},
		{"syscall:openat", true, MechanismSyscallTracepoints},
	} {
		sys := newFakeSystem()
		sys.multi = tc.multi
		targets, _, err := Resolve(mustParse(t, tc.spec), sys, 100)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		for _, got := range targets {
			if got.Mechanism != tc.want {
				t.Errorf("%s with kprobe.multi %v: %s attaches by %v, want %v", tc.spec, tc.multi, got.Label(), got.Mechanism, tc.want)
			}
		}
	}
}

func TestMechanismNames(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Mechanisms() {
		text, err := m.MarshalText()
		if err != nil || len(text) == 0 || seen[string(text)] || string(text) != m.String() {
			t.Errorf("mechanism %d: name %q, %v; want a name of its own", uint8(m), text, err)
		}
		seen[string(text)] = true
	}
	if len(seen) != int(mechanismEnd)-1 {
		t.Errorf("Mechanisms() lists %d of %d", len(seen), mechanismEnd-1)
	}
	if _, err := Mechanism(0).MarshalText(); err == nil {
		t.Error("the zero Mechanism, never resolved, has a name")
	}
}
