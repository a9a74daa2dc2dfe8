// Package guestprobe holds the harness's own guest tests: run through vmtest,
// they check that the guest kernel is the pinned one and offers what
// kretspan's tests rely on (BTF, tracefs with kprobe events, bpffs, bpf(2)).
// Outside a vmtest guest (KRETSPAN_VMTEST unset) every test skips.
package guestprobe
