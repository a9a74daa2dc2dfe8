package bpf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadLockdown(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, mode, forbids string }{
		{"[none] integrity confidentiality\n", "none", ""},
		{"none [integrity] confidentiality\n", "integrity", ""},
		{"none integrity [confidentiality]\n", "confidentiality", "reading kernel memory (bpf_probe_read_kernel), kprobes and tracefs"},
		{"none integrity confidentiality\n", "unknown", ""},
	} {
		path := filepath.Join(dir, "lockdown")
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		mode, err := readLockdown(path)
		f := Features{Lockdown: mode}
		if mode != tc.mode || (err != nil) != (tc.mode == "unknown") || f.LockdownForbids() != tc.forbids {
			t.Errorf("%q: mode %q (%v), forbids %q; want %q, forbids %q", tc.content, mode, err, f.LockdownForbids(), tc.mode, tc.forbids)
		}
	}
	if mode, err := readLockdown(filepath.Join(dir, "absent")); mode != "unknown" || err == nil {
		t.Errorf("no lockdown file: %q, %v; want unknown with the reason", mode, err)
	}
}
