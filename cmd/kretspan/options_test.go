package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kretspan/kretspan/config"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Every flag that takes a value, given an empty one, is bad usage: one line, exit status 2,
// before anything is attached (as a user, not root, would see it fail anyway).
func TestRunEmptyFlagValues(t *testing.T) {
	var help bytes.Buffer
	config.PrintFlags(&help)
	var flags []string
	for _, line := range strings.Split(help.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "  -"); ok {
			flags = append(flags, strings.Fields(name)[0])
		}
	}
	if len(flags) < 20 {
		t.Fatalf("found only %d flags in the help:\n%s", len(flags), help.String())
	}
	for _, name := range flags {
		checkOneLineUsage(t, []string{"--" + name + "=", "syscall:read"}, "--"+name+": empty value")
	}
	// Not as if no filter had been asked for.
	checkOneLineUsage(t, []string{"--comm", "", "syscall:read"}, "--comm: empty value")
	checkOneLineUsage(t, []string{"--config", testprocess.WriteConfig(t, "comm: ''\n"), "syscall:read"}, "comm: empty value")
	checkOneLineUsage(t, []string{""}, "empty probe spec")
}

func TestRunBadEnvironmentOneLine(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "localhost:4317")
	checkOneLineUsage(t, []string{"syscall:read"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
}
