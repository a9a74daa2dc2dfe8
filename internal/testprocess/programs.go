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
