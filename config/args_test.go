package config

import (
	"strings"
	"testing"

	"github.com/kretspan/kretspan/internal/testprocess"
)

func TestArgumentSettings(t *testing.T) {
	path := testprocess.WriteConfig(t, `args: true
arg_string_max: 256
probes:
  - syscall:openat
  - spec: "vfs_read(file, n=count)"
    args: false
  - spec: syscall:read
    args: true
`)
	s, err := load("--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if s.ArgStringMax != 256 {
		t.Errorf("arg_string_max %d, want 256", s.ArgStringMax)
	}
	for i, want := range []bool{true, false, true} {
		if got := s.ProbeArgs(s.Probes[i]); got != want {
			t.Errorf("%s captures every argument: %v, want %v", s.Probes[i].Spec.Raw, got, want)
		}
	}
	if args := s.Probes[1].Spec.Args; len(args) != 2 || args[1].Name != "n" || args[1].Expr != "count" {
		t.Errorf("vfs_read's selection %+v", args)
	}
	defaults, err := load("syscall:openat")
	if err != nil {
		t.Fatal(err)
	}
	if defaults.ArgStringMax != 128 || defaults.ProbeArgs(defaults.Probes[0]) {
		t.Errorf("defaults: arg string max %d, every argument %v; want 128 and off", defaults.ArgStringMax, defaults.ProbeArgs(defaults.Probes[0]))
	}
	for _, bad := range []string{"0", "1025", "-1", ""} {
		if _, err := load("--arg-string-max", bad, "syscall:openat"); err == nil || !strings.Contains(err.Error(), "arg-string-max") {
			t.Errorf("--arg-string-max %q: %v", bad, err)
		}
	}
}
