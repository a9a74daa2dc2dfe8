package bpf

import (
	"errors"
	"testing"

	"github.com/kretspan/kretspan/probe"
)

// Every mechanism Resolve can choose has a row: its programs in the object, an attach function
// and a descriptor cost.
func TestEveryMechanismAttaches(t *testing.T) {
	spec, err := loadKretspan()
	if err != nil {
		t.Fatal(err)
	}
	var s kretspanSpecs
	if err := spec.Assign(&s); err != nil {
		t.Fatal(err)
	}
	for _, m := range probe.Mechanisms() {
		a, ok := attachments[m]
		if !ok {
			t.Errorf("mechanism %v has no row in attachments", m)
			continue
		}
		if a.entry == nil || a.ret == nil || a.attach == nil || a.descriptors == nil {
			t.Errorf("mechanism %v: incomplete row", m)
			continue
		}
		entry, ret := a.entry(&s.kretspanProgramSpecs), a.ret(&s.kretspanProgramSpecs)
		if entry == nil || ret == nil || entry == ret || entry.Type != ret.Type {
			t.Errorf("mechanism %v: entry program %v, return program %v", m, entry, ret)
		}
		p := Probe{Target: probe.Target{ID: 7, Name: "vfs_read", Mechanism: m, ArgCount: 4, GoReturnOffsets: []uint64{8, 16}}}
		if a.instance != nil {
			copied := spec.Copy()
			var cs kretspanSpecs
			if err := copied.Assign(&cs); err != nil {
				t.Fatal(err)
			}
			if err := a.instance(&cs, p); err != nil {
				t.Errorf("mechanism %v: %v", m, err)
			}
			var id uint32
			if err := cs.InstanceProbeId.Get(&id); err != nil || id != 7 {
				t.Errorf("mechanism %v: instance probe id %d (%v), want 7", m, id, err)
			}
		}
		if own := a.descriptors(p); (a.instance == nil) != (own == 0) {
			t.Errorf("mechanism %v: %d descriptors of its own per target, with programs shared: %v", m, own, a.instance == nil)
		}
	}
	if err := (Probe{Target: probe.Target{Name: "vfs_read"}}).Check(); err == nil {
		t.Error("a target without a mechanism passes Check")
	}
}

// --errors-only needs the errno convention; user-space functions have none.
func TestErrorsOnlyNeedsTheErrnoConvention(t *testing.T) {
	uprobe := Probe{Target: probe.Target{Kind: probe.KindUprobe, Mechanism: probe.MechanismUprobe, Binary: "/bin/true", Name: "main"}, Filter: Filter{ErrorsOnly: true}}
	if err := uprobe.Check(); !errors.Is(err, ErrNoErrnoConvention) {
		t.Errorf("--errors-only on a uprobe: %v, want ErrNoErrnoConvention", err)
	}
	if _, err := Start(testConfig(), []Probe{uprobe}); !errors.Is(err, ErrNoErrnoConvention) {
		t.Errorf("Start with --errors-only on a uprobe: %v, want ErrNoErrnoConvention", err)
	}
	uprobe.Filter.ErrorsOnly = false
	syscall := Probe{Target: probe.Target{Kind: probe.KindSyscall, Mechanism: probe.MechanismSyscallTracepoints, Name: "openat", ReturnsErrno: true}, Filter: Filter{ErrorsOnly: true}}
	for _, p := range []Probe{uprobe, syscall} {
		if err := p.Check(); err != nil {
			t.Errorf("%s: %v", p.Label(), err)
		}
	}
}
