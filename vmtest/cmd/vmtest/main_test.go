package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kretspan/kretspan/vmtest"
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

// writeELF writes a minimal static ELF executable header for machine to dir/name: all
// FindTestBinaries reads.
func writeELF(t *testing.T, dir, name string, machine elf.Machine) {
	t.Helper()
	h := elf.Header64{
		Type:    uint16(elf.ET_EXEC),
		Machine: uint16(machine),
		Version: uint32(elf.EV_CURRENT),
		Ehsize:  64,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A run is of its test binaries' architecture: -files programs of another are refused.
func TestBinariesTakeTheArchitectureOfTheTests(t *testing.T) {
	dir := t.TempDir()
	amd64Tests, amd64Files, arm64Files := filepath.Join(dir, "tests"), filepath.Join(dir, "files"), filepath.Join(dir, "files-arm64")
	writeELF(t, amd64Tests, "a.test", elf.EM_X86_64)
	writeELF(t, amd64Files, "kretspan", elf.EM_X86_64)
	writeELF(t, arm64Files, "kretspan", elf.EM_AARCH64)

	tests, files, err := binaries(amd64Tests, amd64Files)
	if err != nil || len(tests) != 1 || tests[0].Arch != "amd64" || len(files) != 1 || files[0].Arch != "amd64" {
		t.Fatalf("binaries(amd64 tests, amd64 files) = %+v, %+v, %v", tests, files, err)
	}
	if _, files, err := binaries(amd64Tests, ""); err != nil || files != nil {
		t.Fatalf("binaries(amd64 tests, no files) = files %+v, %v", files, err)
	}
	_, _, err = binaries(amd64Tests, arm64Files)
	if err == nil || !strings.Contains(err.Error(), "arm64 programs") {
		t.Fatalf("binaries(amd64 tests, arm64 files) = %v, want it refused", err)
	}
}

func TestKernelsOfTheBinariesArchitecture(t *testing.T) {
	pinned := []vmtest.Kernel{
		{Label: "5.10", Package: "linux-image-5.10.0-32-cloud-amd64-unsigned"},
		{Label: "6.12", Package: "linux-image-6.12.118+deb13-cloud-amd64-unsigned"},
		{Label: "arm64-6.1", Package: "linux-image-6.1.0-56-cloud-arm64-unsigned"},
	}
	labels := func(ks []vmtest.Kernel) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.Label)
		}
		return out
	}
	// -kernels all with amd64 binaries boots every amd64 kernel.
	if got, err := kernelsOf(pinned, "amd64", "all"); err != nil || !slices.Equal(labels(got), []string{"5.10", "6.12"}) {
		t.Errorf("kernelsOf(all, amd64) = %q, %v", labels(got), err)
	}
	if got, err := kernelsOf(pinned, "arm64", "all"); err != nil || !slices.Equal(labels(got), []string{"arm64-6.1"}) {
		t.Errorf("kernelsOf(all, arm64) = %q, %v", labels(got), err)
	}
	if got, err := kernelsOf(pinned[2:], "amd64", "arm64-6.1"); err == nil {
		t.Errorf("kernelsOf(arm64-6.1, amd64) = %q, want an error: no amd64 kernel selected", labels(got))
	}
	if len(pinned) != 3 || pinned[2].Label != "arm64-6.1" {
		t.Errorf("kernelsOf changed its argument: %q", labels(pinned))
	}
}

func TestDirFlagTakesOneDirectory(t *testing.T) {
	var d dirFlag
	if err := d.Set("a"); err != nil || d != "a" {
		t.Fatalf("first Set: %q, %v", d, err)
	}
	if err := d.Set("b"); err == nil || d != "a" {
		t.Errorf("second Set: %q, %v; want it refused", d, err)
	}
}
