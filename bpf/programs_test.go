package bpf

import (
	"slices"
	"testing"
)

func TestCallProgramsNameEachMechanismsPrograms(t *testing.T) {
	entry, ret, err := CallPrograms()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(entry)
	slices.Sort(ret)
	// Names as the kernel keeps them: uprobe_ret_instruction is cut to 15 bytes.
	if want := []string{"fentry_entry", "kprobe_entry", "kprobe_multi_en", "syscall_entry", "uprobe_entry"}; !slices.Equal(entry, want) {
		t.Errorf("entry programs %v, want %v", entry, want)
	}
	if want := []string{"fexit_return", "kprobe_multi_re", "kprobe_return", "syscall_return", "uprobe_ret_inst", "uprobe_return"}; !slices.Equal(ret, want) {
		t.Errorf("return programs %v, want %v", ret, want)
	}
}
