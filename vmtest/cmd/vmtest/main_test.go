package main

import (
	"slices"
	"testing"
)

func TestRunFlagGivesEachKernelItsTests(t *testing.T) {
	runs := runFlag{}
	for _, v := range []string{"arm64-6.12=^TestKernel(A|B)$", "arm64-6.1=^TestKernelA$"} {
		if err := runs.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	for _, tc := range []struct {
		label string
		args  []string
		want  []string
	}{
		{"arm64-6.12", []string{"-test.v"}, []string{"-test.run", "^TestKernel(A|B)$", "-test.v"}},
		{"arm64-6.1", []string{"-test.v"}, []string{"-test.run", "^TestKernelA$", "-test.v"}},
		// A kernel without -run runs what the args say; the args' own -test.run comes last and wins.
		{"6.12", []string{"-test.v"}, []string{"-test.v"}},
		{"arm64-6.1", []string{"-test.run", "X"}, []string{"-test.run", "^TestKernelA$", "-test.run", "X"}},
	} {
		if got := runs.kernelArgs(tc.label, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("kernelArgs(%s, %q) = %q, want %q", tc.label, tc.args, got, tc.want)
		}
	}
	for _, bad := range []string{"arm64-6.1=X", "arm64-6.1", "=X", "6.1="} {
		if err := runs.Set(bad); err == nil {
			t.Errorf("Set(%q) took it, want an error", bad)
		}
	}
}
