package bench

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/bpf"
)

// BPFRunTime is the kernel's own accounting of one process's entry and return programs over a
// window (run_time_ns and run_cnt, kept while BPF run-time statistics are enabled): the
// differences between the window's end and its start, summed over the programs of each kind.
type BPFRunTime struct {
	Calls    uint64 // Δrun_cnt of the entry programs: each call runs one
	Returns  uint64 // Δrun_cnt of the return programs
	EntryNs  uint64 // Δrun_time_ns of the entry programs
	ReturnNs uint64 // Δrun_time_ns of the return programs
}

// NsPerCall is the entry and return programs' run time per call: (ΔEntryNs + ΔReturnNs) ÷ Calls.
func (b BPFRunTime) NsPerCall() float64 {
	if b.Calls == 0 {
		return 0
	}
	return float64(b.EntryNs+b.ReturnNs) / float64(b.Calls)
}

// progStat is one program's name and counters.
type progStat struct {
	name           string
	runTimeNs, cnt uint64
}

// processPrograms reads the counters of the BPF programs process pid holds: exactly those whose
// ids its file descriptors name (the "prog_id:" line of /proc/PID/fdinfo/N, which the kernel
// writes for a program's descriptor and for a link's).
func processPrograms(pid int) (map[ebpf.ProgramID]progStat, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []ebpf.ProgramID
	for _, e := range entries {
		f, err := os.Open(dir + "/" + e.Name())
		if err != nil {
			continue // closed since ReadDir
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil && !slices.Contains(ids, ebpf.ProgramID(id)) {
					ids = append(ids, ebpf.ProgramID(id))
				}
			}
		}
		f.Close()
	}
	stats := make(map[ebpf.ProgramID]progStat, len(ids))
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			return nil, fmt.Errorf("program %d of process %d: %w", id, pid, err)
		}
		info, err := p.Info()
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("program %d: %w", id, err)
		}
		s, err := p.Stats()
		p.Close()
		if err != nil {
			return nil, fmt.Errorf("program %d (%s): %w", id, info.Name, err)
		}
		stats[id] = progStat{name: info.Name, runTimeNs: uint64(s.Runtime.Nanoseconds()), cnt: s.RunCount}
	}
	return stats, nil
}

// measureBPFRunTime enables BPF run-time statistics (ebpf.EnableStats: on while its descriptor
// is open, for every program on the machine), reads the counters of process pid's programs,
// runs run, and reads them again. A run that fails returns its error as runErr; statsErr says
// why there are no statistics (when they cannot be enabled, run does not run).
func measureBPFRunTime(pid int, run func() error) (b BPFRunTime, runErr, statsErr error) {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return b, nil, fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	defer stats.Close()
	before, statsErr := processPrograms(pid)
	if runErr = run(); runErr != nil {
		return b, runErr, nil
	}
	if statsErr != nil {
		return b, nil, statsErr
	}
	after, err := processPrograms(pid)
	if err != nil {
		return b, nil, err
	}
	entryPrograms, returnPrograms, err := bpf.CallPrograms()
	if err != nil {
		return b, nil, err
	}
	var entries, returns int
	for id, a := range after {
		s, ok := before[id]
		if !ok {
			return b, nil, fmt.Errorf("program %d (%s) appeared during the run", id, a.name)
		}
		switch {
		case slices.Contains(entryPrograms, a.name):
			entries++
			b.Calls += a.cnt - s.cnt
			b.EntryNs += a.runTimeNs - s.runTimeNs
		case slices.Contains(returnPrograms, a.name):
			returns++
			b.Returns += a.cnt - s.cnt
			b.ReturnNs += a.runTimeNs - s.runTimeNs
		}
	}
	if entries == 0 || returns == 0 {
		return b, nil, fmt.Errorf("process %d holds %d entry and %d return programs", pid, entries, returns)
	}
	if b.Calls == 0 {
		return b, nil, errors.New("the entry programs did not run (run_cnt unchanged)")
	}
	return b, nil, nil
}
