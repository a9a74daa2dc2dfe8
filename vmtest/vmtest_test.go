package vmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRepoLockParses reads the repository's lock, which ParseLock checks line by line (labels
// against releases included), and checks what ParseLock does not: each sha256 has 64
// characters, and every architecture vmtest boots has a kernel pinned.
func TestRepoLockParses(t *testing.T) {
	kernels, err := ReadLock("kernels.lock")
	if err != nil {
		t.Fatal(err)
	}
	arches := map[string]bool{}
	for _, k := range kernels {
		arches[k.Arch()] = true
		if len(k.SHA256) != 64 {
			t.Errorf("%s: sha256 %q", k.Label, k.SHA256)
		}
	}
	for arch := range Arches {
		if !arches[arch] {
			t.Errorf("no %s kernel pinned", arch)
		}
	}
}

func TestKernelArchitecture(t *testing.T) {
	for _, tc := range []struct{ label, pkg, arch, series, console string }{
		{"6.1", "linux-image-6.1.0-56-cloud-amd64-unsigned", "amd64", "6.1", "console=ttyS0"},
		{"arm64-6.12", "linux-image-6.12.118+deb13-cloud-arm64-unsigned", "arm64", "6.12", "console=ttyAMA0"},
	} {
		k := Kernel{Label: tc.label, Package: tc.pkg}
		if k.Arch() != tc.arch || k.Series() != tc.series {
			t.Errorf("%s: arch %q series %q, want %q %q", tc.label, k.Arch(), k.Series(), tc.arch, tc.series)
		}
		args := strings.Join(QEMUArgs(BootConfig{Kernel: k, MemoryMB: 1024, CPUs: 2}), " ")
		if !strings.Contains(args, tc.console+" ") {
			t.Errorf("%s: qemu %s lacks %s", tc.label, args, tc.console)
		}
		if virt := strings.HasPrefix(args, "-M virt "); virt != (tc.arch == "arm64") {
			t.Errorf("%s: qemu %s: -M virt is for arm64 only", tc.label, args)
		}
	}
}

func TestParseLockRejects(t *testing.T) {
	for _, bad := range []string{
		"",
		"6.1 linux-image-6.1.0-1-cloud-amd64-unsigned 6.1-1\n",
		"6.1 linux-headers-6.1 6.1-1 abc\n",
		"6.1 linux-image-a 1 x\n6.1 linux-image-b 1 x\n",
		"6.1 linux-image-6.1.0-56-cloud-riscv64-unsigned 6.1.192-2 x\n",     // an architecture vmtest does not boot
		"6.12 linux-image-6.1.0-56-cloud-amd64-unsigned 6.1.192-2 x\n",      // another series
		"6.1 linux-image-6.1.0-56-cloud-arm64-unsigned 6.1.192-2 x\n",       // arm64 without its prefix
		"arm64-6.1 linux-image-6.1.0-56-cloud-amd64-unsigned 6.1.192-2 x\n", // the prefix of another architecture
	} {
		if _, err := ParseLock(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseLock(%q) accepted", bad)
		}
	}
}

func TestSelectKernels(t *testing.T) {
	pinned := []Kernel{{Label: "5.10"}, {Label: "6.1"}, {Label: "6.12"}}
	got, err := SelectKernels(pinned, []string{"6.12", "5.10"})
	if err != nil || len(got) != 2 || got[0].Label != "5.10" || got[1].Label != "6.12" {
		t.Fatalf("got %v, %v; want 5.10, 6.12 in lock order", got, err)
	}
	if _, err := SelectKernels(pinned, []string{"4.19"}); err == nil {
		t.Fatal("unpinned label accepted")
	}
}

func TestParseConsoleLine(t *testing.T) {
	for line, want := range map[string]*ConsoleEvent{
		"KRETSPAN-VMTEST-EXIT foo.test 0":             {Marker: markerExit, Name: "foo.test", Code: 0},
		"KRETSPAN-VMTEST-EXIT foo.test 137":           {Marker: markerExit, Name: "foo.test", Code: 137},
		"KRETSPAN-VMTEST-BOOTED 6.1.0-56-cloud-amd64": {Marker: markerBooted, Name: "6.1.0-56-cloud-amd64"},
		"KRETSPAN-VMTEST-DONE":                        {Marker: markerDone},
		"  KRETSPAN-VMTEST-EXIT foo.test 0":           nil, // must start the line
		"log: KRETSPAN-VMTEST-EXIT foo.test 0":        nil,
		"KRETSPAN-VMTEST-EXIT foo.test":               nil,
		"KRETSPAN-VMTEST-EXIT foo.test x":             nil,
		"KRETSPAN-VMTEST-DONE extra":                  nil,
	} {
		got, ok := ParseConsoleLine(line)
		if want == nil {
			if ok {
				t.Errorf("%q parsed as %+v", line, got)
			}
		} else if !ok || got != *want {
			t.Errorf("%q: got %+v %v, want %+v", line, got, ok, *want)
		}
	}
}

func TestInitScriptQuotesArgsAndEnv(t *testing.T) {
	script, err := InitScript(GuestRun{
		Kernel: Kernel{Label: "6.1", Package: "linux-image-6.1.0-56-cloud-amd64-unsigned"},
		Tests:  []TestBinary{{Name: "a.test"}},
		Args:   []string{"-test.run", "Test'X $(reboot)"},
		Env:    []string{"FOO=bar baz"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`export KRETSPAN_VMTEST_KERNEL_RELEASE='6.1.0-56-cloud-amd64'`,
		`export FOO='bar baz'`,
		`/tests/a.test '-test.run' 'Test'\''X $(reboot)'`,
		"echo KRETSPAN-VMTEST-EXIT a.test $code",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if _, err := InitScript(GuestRun{Env: []string{"1BAD=x"}}); err == nil {
		t.Error("invalid env name accepted")
	}
}

// TestCPIOLayout reads the archive back and checks names, modes and padding.
func TestCPIOLayout(t *testing.T) {
	src := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(src, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	c := newCPIOWriter(&buf)
	c.Dir("dev")
	c.CharDev("dev/console", 0o600, 5, 1)
	c.File("bin/x", 0o755, src)
	c.Symlink("bin/sh", "busybox")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	type entry struct {
		name        string
		mode, major uint64
		data        string
	}
	var got []entry
	b := buf.Bytes()
	for len(b) > 0 {
		if len(b) < 110 || string(b[:6]) != "070701" {
			t.Fatalf("bad header at offset %d", buf.Len()-len(b))
		}
		field := func(i int) uint64 {
			v, err := strconv.ParseUint(string(b[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		mode, size, major, nameSize := field(1), field(6), field(9), field(11)
		name := string(b[110 : 110+nameSize-1])
		off := (110 + int(nameSize) + 3) &^ 3
		data := string(b[off : off+int(size)])
		b = b[(off+int(size)+3)&^3:]
		if name == "TRAILER!!!" {
			break
		}
		got = append(got, entry{name, mode, major, data})
	}
	if len(b) != 0 {
		t.Errorf("%d bytes after trailer", len(b))
	}
	want := []entry{
		{"dev", 0o040755, 0, ""},
		{"dev/console", 0o020600, 5, ""},
		{"bin/x", 0o100755, 0, "12345"},
		{"bin/sh", 0o120777, 0, "busybox"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
