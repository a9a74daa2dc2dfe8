package bpf

import (
	"testing"

	"github.com/kretspan/kretspan/argspec"
)

// A plan of no arguments must not flag the probe: the kernel would reserve an args tail that no
// argument slot sizes, and leave its header unwritten.
func TestPlanWithoutArgumentsCapturesNone(t *testing.T) {
	one := &argspec.Plan{Args: []argspec.Arg{{Name: "fd"}}}
	for _, c := range []struct {
		plan  *argspec.Plan
		args  uint8
		slots uint32
	}{
		{nil, 0, 0},
		{&argspec.Plan{}, 0, 0},
		{one, 1, 1},
	} {
		p := Probe{Args: c.plan}
		if got := probeConfig(p).Args; got != c.args {
			t.Errorf("plan %+v: probe_config.args %d, want %d", c.plan, got, c.args)
		}
		if got := newArgLayout([]Probe{p}, argspec.DefaultStrMax).slots; got != c.slots {
			t.Errorf("plan %+v: %d argument slots, want %d", c.plan, got, c.slots)
		}
	}
}
