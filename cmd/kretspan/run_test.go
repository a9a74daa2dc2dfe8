package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kretspan/kretspan/internal/testprocess"
	"github.com/kretspan/kretspan/probe"
)

// runCLI calls run and fails the test if it panics.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("run(%q) panicked: %v", args, r)
		}
	}()
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// checkOneLineUsage asserts exit status 2 and exactly one line on stderr starting with "kretspan: ".
func checkOneLineUsage(t *testing.T, args []string, want string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != 2 {
		t.Errorf("run(%q) = %d, want 2; stderr %q", args, code, stderr)
	}
	if stdout != "" {
		t.Errorf("run(%q) wrote to stdout: %q", args, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("run(%q) wrote %d lines to stderr, want exactly one:\n%s", args, len(lines), stderr)
	}
	if !strings.HasPrefix(lines[0], "kretspan: ") {
		t.Errorf("stderr %q does not start with \"kretspan: \"", lines[0])
	}
	if !strings.Contains(lines[0], want) {
		t.Errorf("stderr %q does not contain %q", lines[0], want)
	}
}

// These inputs fail validation after flag parsing: none reaches the kernel.
func TestRunBadInputOneLine(t *testing.T) {
	badConfig := testprocess.WriteConfig(t, "exporter: [console\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no probes given"},
		{[]string{"--sample", "0", "syscall:read"}, "sample 0"},
		{[]string{"--sample", "1.5", "syscall:read"}, "sample 1.5"},
		{[]string{"--max-inflight", "0", "syscall:read"}, "--max-inflight"},
		{[]string{"--ringbuf-size", "1000", "syscall:read"}, "--ringbuf-size 1000"},
		{[]string{"--exporter", "foo", "syscall:read"}, "--exporter"},
		{[]string{"--comm", "sixteen-chars-xx", "syscall:read"}, "15 characters"},
		{[]string{"--duration", "-1s", "syscall:read"}, "--duration -1s"},
		{[]string{"--min-duration", "-5ms", "syscall:read"}, "min-duration"},
		{[]string{"bogus:read"}, "unknown probe kind"},
		{[]string{"syscall:"}, "missing function"},
		{[]string{"--config", badConfig, "syscall:read"}, "config"},
		{[]string{"--config", "/nonexistent/kretspan.yaml", "syscall:read"}, "/nonexistent/kretspan.yaml"},
		{[]string{"--cgroup", "no-such-cgroup.slice", "syscall:read"}, "--cgroup no-such-cgroup.slice: "},
		{[]string{"--cgroup", t.TempDir(), "syscall:read"}, "not in a cgroup v2 hierarchy"},
		{[]string{"--container", "0badc0ffee00", "syscall:read"}, "--container 0badc0ffee00: "},
		{[]string{"--container", "web", "syscall:read"}, "want a container id"},
		{[]string{"list", "a", "b"}, "at most one PATTERN"},
		{[]string{"list", "--binary", "/nonexistent/app"}, "/nonexistent/app"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			checkOneLineUsage(t, tc.args, tc.want)
		})
	}
}

// Bad flag values rejected by the flag package itself: the FlagSet must print nothing of its own.
func TestRunBadFlagOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sample", "abc", "syscall:read"}, `"abc"`},
		{[]string{"--pid", "0", "syscall:read"}, `"0"`},
		{[]string{"--pid", "-3", "syscall:read"}, `"-3"`},
		{[]string{"--max-inflight", "-1", "syscall:read"}, `"-1"`},
		{[]string{"--no-such-flag", "syscall:read"}, "no-such-flag"},
		{[]string{"syscall:read", "--duration"}, "duration"},
		{[]string{"list", "--bogus"}, "bogus"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			checkOneLineUsage(t, tc.args, tc.want)
		})
	}
}

func TestRunBadFlagExitStatus(t *testing.T) {
	// Whatever it prints, a bad flag is bad usage: exit status 2, no panic, and the last line is ours.
	for _, args := range [][]string{
		{"--sample", "abc", "syscall:read"}, {"--pid", "0", "syscall:read"}, {"--pid", "-3", "syscall:read"}, {"--nope"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "kretspan: ") {
			t.Errorf("run(%q): last stderr line %q", args, last)
		}
	}
}

func TestRunUnknownConfigKeyOneLine(t *testing.T) {
	for text, want := range map[string]string{
		"exporter: console\nexporterr: none\n": "exporterr",
		"duration: soon\n":                     "soon",
		"- a\n":                                "!!seq",
	} {
		checkOneLineUsage(t, []string{"--config", testprocess.WriteConfig(t, text), "syscall:read"}, want)
	}
}

func TestRunUnknownConfigKeyExitStatus(t *testing.T) {
	path := testprocess.WriteConfig(t, "exporter: console\nexporterr: none\n")
	code, _, stderr := runCLI(t, "--config", path, "syscall:read")
	if code != 2 || !strings.HasPrefix(stderr, "kretspan: config ") || !strings.Contains(stderr, "exporterr") {
		t.Errorf("run = %d, stderr %q", code, stderr)
	}
}

func TestRunHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		code, stdout, stderr := runCLI(t, arg)
		if code != 0 {
			t.Errorf("run(%s) = %d, want 0", arg, code)
		}
		if stderr != "" {
			t.Errorf("run(%s) wrote to stderr: %q", arg, stderr)
		}
		// The whole usage: commands, probe syntax, exit statuses, then every flag.
		for _, want := range []string{
			"Usage:", "kretspan list", "kretspan check", "uprobe:PATH:SYMBOL", "Exit status", strings.Split(probe.Usage, "\n")[0],
			"-duration", "-sample", "-exporter", "-pid", "-config", "-max-inflight", "-ringbuf-size",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("run(%s) output lacks %q:\n%s", arg, want, stdout)
			}
		}
	}
	// --help wins wherever it appears, even after bad input.
	if code, stdout, _ := runCLI(t, "syscall:read", "--help"); code != 0 || !strings.Contains(stdout, "Usage:") {
		t.Errorf("probe then --help: %d", code)
	}
	code, stdout, stderr := runCLI(t, "list", "--help")
	if code != 0 || !strings.Contains(stdout, "kretspan list") || stderr != "" {
		t.Errorf("list --help = %d, stdout %q stderr %q", code, stdout, stderr)
	}
}

// list --binary needs no privileges: it reads the ELF symbol table.
func TestRunListBinary(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	if err := os.WriteFile(src, []byte("int kretspan_test_fn(int a) { return a + 1; }\nint kretspan_test_other(void) { return 2; }\nint main(void) { return kretspan_test_fn(0) + kretspan_test_other(); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "p")
	if out, err := exec.Command("cc", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	code, stdout, stderr := runCLI(t, "list", "--binary", bin, "kretspan_test_*")
	if code != 0 {
		t.Fatalf("list = %d: %s", code, stderr)
	}
	want := []string{"uprobe:" + bin + ":kretspan_test_fn", "uprobe:" + bin + ":kretspan_test_other"}
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(got) != 2 || !((got[0] == want[0] && got[1] == want[1]) || (got[0] == want[1] && got[1] == want[0])) {
		t.Errorf("list output %q, want %q", got, want)
	}
	checkOneLineUsage(t, []string{"list", "--binary", bin, "[bad"}, "bad pattern")
}
