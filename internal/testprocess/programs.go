package testprocess

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Program is one binary the integration tests run: kretspan itself or a workload it traces.
type Program struct {
	Name   string
	Source string   // a Go package, or a C file (by its .c suffix), from the module's root
	CFlags []string // beyond the flags every C workload gets
}

// Programs is the one recipe for every program the host, end-to-end and kernel-matrix tests run.
// C workloads carry symbols and DWARF (-g), which probing by name and by argument needs.
var Programs = []Program{
	{Name: "kretspan", Source: "./cmd/kretspan"},
	{Name: "gonested", Source: "./cmd/kretspan/testdata/gonested"},
	{Name: "goargs", Source: "./cmd/kretspan/testdata/goargs"},
	{Name: "httpservice", Source: "./examples/httpservice"},
	{Name: "nested", Source: "cmd/kretspan/testdata/nested.c"},
	{Name: "driver", Source: "cmd/kretspan/testdata/driver.c", CFlags: []string{"-pthread"}},
	{Name: "bindc", Source: "cmd/kretspan/testdata/bindc.c"},
	{Name: "sched", Source: "cmd/kretspan/testdata/sched.c", CFlags: []string{"-pthread", "-fno-omit-frame-pointer"}},
}

// crossCompilers are Debian's C cross compilers, by GOARCH (gcc-aarch64-linux-gnu,
// gcc-x86-64-linux-gnu).
var crossCompilers = map[string]string{"arm64": "aarch64-linux-gnu-gcc", "amd64": "x86_64-linux-gnu-gcc"}

// BuildPrograms builds the named programs (all of them when none is named) into dir, for goarch
// ("" for this machine's). Static builds are for the kernel-matrix guests, which have no libc.
func BuildPrograms(dir string, static bool, goarch string, names ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	cc := "cc"
	if goarch == "" {
		goarch = runtime.GOARCH
	} else if goarch != runtime.GOARCH {
		if cc = crossCompilers[goarch]; cc == "" {
			return fmt.Errorf("no C cross compiler known for %s", goarch)
		}
	}
	built := 0
	for _, p := range Programs {
		if len(names) > 0 && !slices.Contains(names, p.Name) {
			continue
		}
		built++
		out := filepath.Join(dir, p.Name)
		var cmd *exec.Cmd
		if strings.HasSuffix(p.Source, ".c") {
			args := append([]string{"-g", "-O2", "-Wall", "-Werror"}, p.CFlags...)
			if static {
				args = append(args, "-static")
			}
			cmd = exec.Command(cc, append(args, "-o", out, p.Source)...)
		} else {
			cmd = exec.Command("go", "build", "-o", out, p.Source)
			// The same binary on the host and in the guests: no libc to link against there.
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+goarch)
		}
		cmd.Dir = root
		if output, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %s: %w\n%s", p.Name, strings.Join(cmd.Args, " "), err, output)
		}
	}
	if built < len(names) {
		return fmt.Errorf("build %s: not all of them are test programs", strings.Join(names, ", "))
	}
	return nil
}

// built is what Built has built: one directory per test binary, which Main removes.
var built struct {
	sync.Mutex
	dir  string
	errs map[string]error // by program, once Built has tried to build it: nil when it is there
}

// Built returns the directory holding the named programs (all of them when none is named), built
// for this machine the first time a test of this binary asks for each, so that a test binary
// builds each program once. The directory lasts until the tests end: a test package that calls
// Built runs its tests through Main, which removes it.
func Built(t testing.TB, names ...string) string {
	t.Helper()
	if len(names) == 0 {
		for _, p := range Programs {
			names = append(names, p.Name)
		}
	}
	built.Lock()
	defer built.Unlock()
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "kretspan-test-")
		if err != nil {
			t.Fatal(err)
		}
		built.dir, built.errs = dir, map[string]error{}
	}
	var missing []string
	for _, name := range names {
		if !slices.ContainsFunc(Programs, func(p Program) bool { return p.Name == name }) {
			t.Fatalf("build %s: not a test program", name)
		}
		if _, tried := built.errs[name]; !tried && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		// A failed build fails every test that needs one of its programs, without building again.
		err := BuildPrograms(built.dir, false, "", missing...)
		for _, name := range missing {
			built.errs[name] = err
		}
	}
	for _, name := range names {
		if err := built.errs[name]; err != nil {
			t.Fatal(err)
		}
	}
	return built.dir
}

// Main runs the tests of a package that calls Built, from its TestMain, removes the directory
// Built built into, and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	built.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.Unlock()
	os.Exit(code)
}

// ModuleRoot is the directory of kretspan's go.mod, found from the working directory up.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// WriteConfig writes a kretspan config file for a test and returns its path.
func WriteConfig(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kretspan.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
