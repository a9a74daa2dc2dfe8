package stacks

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestKernelFramesFromKallsyms(t *testing.T) {
	kallsyms := filepath.Join(t.TempDir(), "kallsyms")
	if err := os.WriteFile(kallsyms, []byte("ffffffff81000100 T schedule\nffffffff81000000 t __schedule\nffffffff81000200 D some_data\nffffffff81000300 T do_nanosleep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(kallsyms)
	s.SetSource(func(id int32) ([]uint64, error) {
		if id != 7 {
			return nil, errors.New("no such stack")
		}
		return []uint64{0xffffffff81000010, 0xffffffff81000123, 0xffffffff81000310, 0x10}, nil
	})
	text, ok := s.Stack(1, 7, -1)
	want := "__schedule+0x10 [kernel]\nschedule+0x23 [kernel]\ndo_nanosleep+0x10 [kernel]\n0x10 [kernel]\n"
	if !ok || text != want {
		t.Errorf("stack 7: %q, %v; want %q", text, ok, want)
	}
	if _, ok := s.Stack(1, 8, -1); ok {
		t.Error("a stack the source does not have was named")
	}
	if _, ok := s.Stack(1, -17, -1); ok {
		t.Error("a lost stack (negative id) was named")
	}
}

// User frames are named from the binary mapped there: this test's own Go binary (which go test
// strips of its symbol table), whose function the test looks up by its address.
func TestUserFramesFromELFSymbols(t *testing.T) {
	s := New(filepath.Join(t.TempDir(), "no-kallsyms"))
	pc := uint64(reflect.ValueOf(TestUserFramesFromELFSymbols).Pointer())
	s.SetSource(func(id int32) ([]uint64, error) {
		if id == 1 {
			return []uint64{0xffffffff81000000}, nil
		}
		return []uint64{pc + 3}, nil
	})
	text, ok := s.Stack(uint32(os.Getpid()), 1, 2)
	if !ok {
		t.Fatal("not named")
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	exe, _ := os.Executable()
	if len(lines) != 2 || lines[0] != "0xffffffff81000000 [kernel]" ||
		!strings.HasPrefix(lines[1], "github.com/kretspan/kretspan/stacks.TestUserFramesFromELFSymbols+0x3 (") || !strings.Contains(lines[1], filepath.Base(exe)) {
		t.Errorf("stack %q, want an unnamed kernel frame, then this test's function in %s", text, exe)
	}
}
