package summary

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/probe"
)

// What Write prints, Parse reads back: the format is defined once.
func TestWriteThenParse(t *testing.T) {
	targets := []probe.Target{
		{ID: 1, Kind: probe.KindSyscall, Name: "openat"},
		{ID: 2, Kind: probe.KindUprobe, Name: "main.handle", Binary: "/usr/local/bin/app"},
	}
	counters := make([]bpf.ProbeCounts, 3)
	for k, n := range map[bpf.Counter]uint64{bpf.CounterEntered: 100, bpf.CounterSubmitted: 60, bpf.CounterFilteredEntry: 10,
		bpf.CounterFilteredDuration: 20, bpf.CounterSampledOut: 5, bpf.CounterDropRingbufFull: 3, bpf.CounterMissedReturn: 1} {
		counters[1].Counts[k] = n
	}
	counters[2].Counts[bpf.CounterEntered], counters[2].Counts[bpf.CounterSubmitted] = 7, 6
	stats := UserSpace{Received: 66, Exported: 61, DroppedQueue: 4, ExportFailed: 1,
		ExportedByID: []uint64{0, 55, 6}, Latency: make([]*LatencyHistogram, 3)}
	stats.Latency[1] = &LatencyHistogram{}
	stats.Latency[1].Record(989_855_744)
	var out bytes.Buffer
	WriteReady(&out, 2, "none")
	Write(&out, targets, counters, bpf.KernelMisses{Probe: 2, Recursion: 9}, stats)
	out.WriteString("kretspan: last export error: x\n")

	s, err := Parse(out.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	openat, err := s.Row("syscall:openat")
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{100, 55, 30, 5, 3, 1, 1}; !slices.Equal(openat.Values(), want) {
		t.Errorf("openat row %v, want %v", openat.Values(), want)
	}
	if handle, err := s.Row(":main.handle"); err != nil || handle.Calls != 7 || handle.Exported != 6 || handle.Label != "uprobe:/usr/local/bin/app:main.handle" {
		t.Errorf("main.handle row %+v, %v", handle, err)
	}
	if s.KprobeMissed != 2 || s.RecursionSkipped != 9 || s.Received != 66 || s.UserExported != 61 || s.QueueDropped != 4 || s.Failed != 1 {
		t.Errorf("summary %+v", s)
	}
	if !strings.Contains(out.String(), " 990ms ") {
		t.Errorf("P50 of a 989.855744ms call is not shown as 990ms:\n%s", out.String())
	}
	if _, err := s.Row("a"); err == nil {
		t.Error("a suffix matching no row was accepted")
	}
	if _, err := Parse(strings.Split(out.String(), "kernel:")[0]); err == nil {
		t.Error("a summary cut short was accepted")
	}
}

func TestRoundDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 999: "999ns", 1234: "1.23µs", 123456: "123µs", 989_855_744: "990ms", 999_600_000: "1s",
		1_234_567_890: "1.23s", 90 * time.Minute: "1h30m0s",
	} {
		if got := roundDuration(d).String(); got != want {
			t.Errorf("roundDuration(%v) = %v, want %s", d, got, want)
		}
	}
}

func TestServicesRoundTrip(t *testing.T) {
	var services []ServiceSpans
	for i := range maxServiceRows + 3 {
		services = append(services, ServiceSpans{Service: fmt.Sprintf("svc %d", i), Exported: uint64(100 - i), ExportFailed: uint64(i % 2)})
	}
	var out strings.Builder
	WriteServices(&out, services, Processes{Read: 40, Cached: 2, FromExec: 30, LostExecRecords: 1})
	got, processes, err := ParseServices("noise\n" + out.String())
	if err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	want := append(slices.Clone(services[:maxServiceRows]), ServiceSpans{"(3 more services)", 80 + 79 + 78, 0 + 1 + 0})
	if !slices.Equal(got, want) || processes != (Processes{40, 2, 30, 1}) {
		t.Errorf("parsed %v %v\nwant %v\n%s", got, processes, want, out.String())
	}
}
