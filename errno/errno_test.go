package errno

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for ret, want := range map[int64]string{
		-1: "EPERM", -2: "ENOENT", -4: "EINTR", -11: "EAGAIN", -110: "ETIMEDOUT", -512: "ERESTARTSYS",
		-600: "errno 600", -4095: "errno 4095", // in the errno range but unnamed
		0: "", 1: "", 5: "", 4096: "", -4096: "", -1 << 62: "", -1 << 63: "", // outside it; -(-1<<63) overflows
	} {
		if got := Name(ret); got != want {
			t.Errorf("Name(%d) = %q, want %q", ret, got, want)
		}
	}
	if got := Message(-2); got != "ENOENT: no such file or directory" {
		t.Errorf("Message(-2) = %q", got)
	}
}

func TestParseRoundTrips(t *testing.T) {
	for n := int64(1); n <= Max; n++ {
		name := Name(-n)
		if strings.HasPrefix(name, "errno ") {
			continue
		}
		if got, err := Parse(name); err != nil || got != n {
			t.Errorf("Parse(%q) = %d, %v; want %d", name, got, err, n)
		}
	}
	if n, err := Parse("EWOULDBLOCK"); err != nil || n != 11 {
		t.Errorf("Parse(EWOULDBLOCK) = %d, %v; want 11", n, err)
	}
	for _, bad := range []string{"", "eagain", "ENOSUCH", "errno 600"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestNotFailures(t *testing.T) {
	set := DefaultSet()
	if len(set) == 0 || len(set) > MaxNotFailures {
		t.Fatalf("the default list has %d errnos, want 1..%d", len(set), MaxNotFailures)
	}
	for ret, failure := range map[int64]bool{-2: true, -11: false, -115: false, -114: false, -512: false, -516: false, -13: true, 0: false, 3: false} {
		if got := set.Failure(ret); got != failure {
			t.Errorf("Failure(%d) = %v, want %v", ret, got, failure)
		}
	}
	if !Set(nil).Failure(-11) {
		t.Error("with an empty set, EAGAIN must be a failure")
	}
	if set, err := ParseSet([]string{"EAGAIN", "EWOULDBLOCK"}); err != nil || len(set) != 1 {
		t.Errorf("EAGAIN and EWOULDBLOCK are one errno: %v, %v", set, err)
	}
	if _, err := ParseSet(strings.Fields("EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF")); err == nil {
		t.Error("more than MaxNotFailures accepted")
	}
}

func TestParseList(t *testing.T) {
	set, err := ParseList("EAGAIN, EINPROGRESS")
	if err != nil || len(set) != 2 || set.Failure(-11) || set.Failure(-115) || !set.Failure(-2) {
		t.Errorf("ParseList(EAGAIN, EINPROGRESS) = %v, %v", set, err)
	}
	if set, err := ParseList(None); err != nil || len(set) != 0 || !set.Failure(-11) {
		t.Errorf("ParseList(none) = %v, %v; want an empty set", set, err)
	}
	for _, bad := range []string{"", "EAGAIN,", "EAGAIN,,EINPROGRESS", "ENOSUCH"} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) accepted", bad)
		}
	}
	if got := DefaultSet().String(); got != strings.Join(DefaultNotFailures, ",") {
		t.Errorf("DefaultSet().String() = %q, want %q", got, strings.Join(DefaultNotFailures, ","))
	}
	if round, err := ParseList(DefaultSet().String()); err != nil || round.String() != DefaultSet().String() {
		t.Errorf("the default list does not round-trip: %v, %v", round, err)
	}
}
