package bpf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/argspec"
	"github.com/kretspan/kretspan/errno"
	"github.com/kretspan/kretspan/probe"
	"github.com/kretspan/kretspan/processinfo"
)

// Config holds the settings that apply to every probe.
type Config struct {
	KernelThreads bool     // trace kernel threads too
	PIDs          []uint32 // only these processes (tgids); empty: all
	Comm          string   // only threads with this command name; empty: all
	ExcludePID    uint32   // never this process (kretspan's own, whose exports would trace themselves)
	// Cgroups are cgroup v2 directories (at most MaxCgroups): only tasks in one of them or below
	// it are traced; empty: all.
	Cgroups []string
	// MaxInflight bounds the threads with calls in flight at once (the kretprobe maxactive), their
	// call stacks in a preallocated table. 0: no bound but the thread count, each thread's stack
	// in its task storage, where the kernel has it (5.11+); else a table of DefaultMaxInflight.
	MaxInflight    uint32
	RingBufferSize uint32 // bytes; a power of two and a multiple of the page size
	// WakeupBytes wakes the reader only once this much data waits; a quiet ring is still
	// drained on the reader's poll deadline.
	WakeupBytes  uint64
	PollInterval time.Duration
	// Correlate parents root calls under application spans: those bound by kretspan's marker and
	// those in the shared map traces_ctx_v1, pinned under BPFFS (created if absent).
	Correlate bool
	BPFFS     string
	Markers   []probe.Marker // binaries whose binding marker must be attached (with Correlate)
	Sched     SchedOptions   // for the probes whose Filter asks for the scheduler split
	// ArgStringMax bounds each string and path a probe's arguments capture, in bytes.
	ArgStringMax int
	// OnExec, when set, gets the exec record of each process the filters keep, as it executes a
	// program; Read hands them over before the span records that follow them.
	OnExec func(*processinfo.Exec)
}

// TraceContextMapPath is where the OpenTelemetry eBPF tools share per-thread trace contexts.
func TraceContextMapPath(bpffs string) string { return filepath.Join(bpffs, "otel", "traces_ctx_v1") }

// Filter holds one probe's in-kernel filters.
type Filter struct {
	MinDuration time.Duration
	SampleRatio float64 // (0, 1]; applies at the root of a nest, children follow
	ErrorsOnly  bool
	// NotFailures are errnos that ErrorsOnly does not keep: outcomes such as EAGAIN.
	NotFailures errno.Set
	// Sched: the probe's records carry the scheduler split (SchedTail).
	Sched bool
}

// Probe is one target with its filters.
type Probe struct {
	probe.Target
	Filter Filter
	Args   *argspec.Plan // nil: no arguments captured
}

// capturesArgs says the probe has arguments to capture: a plan with none leaves the records
// without an args tail, which the kernel then neither reserves nor fills.
func (p Probe) capturesArgs() bool { return p.Args != nil && len(p.Args.Args) > 0 }

// ErrNoErrnoConvention refuses --errors-only for a target whose return values have no errno
// convention (user-space functions): the kernel could not tell its errors.
var ErrNoErrnoConvention = errors.New("--errors-only keeps calls returning a negative errno, and this function's return value has no such convention")

// Check reports what Start would refuse in a probe: a mechanism it cannot attach by, or a filter
// the target cannot have.
func (p Probe) Check() error {
	if _, ok := attachments[p.Mechanism]; !ok {
		return fmt.Errorf("probe %s: no way to attach by %v", p.Label(), p.Mechanism)
	}
	if p.Filter.ErrorsOnly && !p.ReturnsErrno {
		return fmt.Errorf("probe %s: %w; keep errors_only for kernel functions and syscalls (a config file sets it per probe)", p.Label(), ErrNoErrnoConvention)
	}
	return nil
}

// Tracer owns everything kretspan has in the kernel: maps, programs, links and the ring reader.
type Tracer struct {
	spec        *ebpf.CollectionSpec
	objects     *ebpf.Collection // what of the shared objects is not in maps
	maps        kretspanMaps
	sharedMaps  map[string]*ebpf.Map // maps, and the global variables' maps, by name
	collections []*ebpf.Collection
	links       []link.Link
	executables map[string]*link.Executable
	reader      *ringbuf.Reader
	execs       *execReader // nil without Config.OnExec
	waiter      *ringWaiter // nil: the reader waits itself
	wakeupBytes int         // the data that makes the programs wake the reader
	poll        time.Duration
	misses      KernelMisses // read when detaching
	stopOnce    sync.Once
	stopErr     error
}

// KernelMisses are hits the kernel did not run kretspan's programs for, by its own counts.
type KernelMisses struct {
	// Probe: kprobe and kretprobe hits missed (kretprobe maxactive exhausted, reentrancy), where
	// the kernel reports them (6.7+ for single kprobes; kprobe.multi links).
	Probe uint64
	// Recursion: program runs skipped because another BPF program was running on the CPU.
	Recursion uint64
}

// Start loads kretspan's programs and attaches every probe. It attaches all or nothing: on error
// whatever was attached is detached again.
func Start(cfg Config, probes []Probe) (*Tracer, error) {
	for _, p := range probes {
		if err := p.Check(); err != nil {
			return nil, err
		}
	}
	spec, err := loadKretspan()
	if err != nil {
		return nil, fmt.Errorf("load BPF object: %w", err)
	}
	if err := configure(spec, cfg, probes); err != nil {
		return nil, err
	}
	var s kretspanSpecs
	if err := spec.Assign(&s); err != nil {
		return nil, fmt.Errorf("BPF object: %w", err)
	}
	hook, err := configureSched(&s, cfg, probes)
	if err != nil {
		return nil, err
	}
	if err := ensureFileLimit(fileDescriptorsNeeded(probes)); err != nil {
		return nil, err
	}
	t := &Tracer{spec: spec, executables: map[string]*link.Executable{}, poll: cfg.PollInterval, wakeupBytes: int(wakeupBytes(cfg))}
	if t.poll <= 0 {
		t.poll = 100 * time.Millisecond
	}
	if err := t.start(cfg, probes, hook); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// DefaultMaxInflight sizes the call-stack table on kernels without task storage.
const DefaultMaxInflight = 10240

// CheckRingBufferSize is the kernel's rule for a ring buffer: a power of two of at least a page.
func CheckRingBufferSize(size uint32) error {
	if page := uint32(os.Getpagesize()); size < page || size&(size-1) != 0 {
		return fmt.Errorf("want a power of two of at least %d bytes", page)
	}
	return nil
}

// MaxCgroups is the most cgroups Config.Cgroups may hold (MAX_CGROUPS in kretspan.h).
const MaxCgroups = int(kretspanLimitMAX_CGROUPS)

// maxCommLen is the longest command name the kernel keeps (TASK_COMM_LEN less the NUL).
const maxCommLen = 15

// CheckComm checks a command name filter: a longer one would never match.
func CheckComm(name string) error {
	if len(name) > maxCommLen {
		return fmt.Errorf("the kernel keeps only %d characters of a command name", maxCommLen)
	}
	return nil
}

// wakeupBytes is how much waiting data makes the programs wake the reader. Past half the ring a
// producer would fill it before the reader is woken.
func wakeupBytes(cfg Config) uint64 {
	return min(max(cfg.WakeupBytes, 1), uint64(cfg.RingBufferSize/2))
}

func configure(spec *ebpf.CollectionSpec, cfg Config, probes []Probe) error {
	probeCount := len(probes)
	var s kretspanSpecs
	if err := spec.Assign(&s); err != nil {
		return fmt.Errorf("BPF object: %w", err)
	}
	if err := configureArgs(&s, cfg, probes); err != nil {
		return err
	}
	if err := configureStacks(&s, cfg.MaxInflight); err != nil {
		return err
	}
	ringSize := cfg.RingBufferSize
	page := uint32(os.Getpagesize())
	if ringSize < page || ringSize&(ringSize-1) != 0 {
		return fmt.Errorf("ring buffer size %d: want a power of two of at least %d bytes", ringSize, page)
	}
	s.Events.MaxEntries = ringSize
	s.Counters.MaxEntries = uint32(probeCount + 1)
	s.ProbeConfigs.MaxEntries = uint32(probeCount + 1)
	s.PidFilter.MaxEntries = uint32(max(len(cfg.PIDs), 1))
	if len(cfg.Cgroups) > MaxCgroups {
		return fmt.Errorf("%d cgroups to filter by, at most %d", len(cfg.Cgroups), MaxCgroups)
	}
	s.CgroupFilter.MaxEntries = uint32(max(len(cfg.Cgroups), 1))
	configureExecs(&s, cfg.OnExec != nil)

	var comm [16]byte
	if len(cfg.Comm) >= len(comm) {
		return fmt.Errorf("command name %q is longer than the kernel's 15 characters", cfg.Comm)
	}
	copy(comm[:], cfg.Comm)
	for _, v := range []struct {
		spec  *ebpf.VariableSpec
		value any
	}{
		{s.TraceKernelThreads, boolByte(cfg.KernelThreads)},
		{s.FilterPids, boolByte(len(cfg.PIDs) > 0)},
		{s.FilterComm, boolByte(cfg.Comm != "")},
		{s.CommFilter, comm},
		{s.FilterCgroups, uint32(len(cfg.Cgroups))},
		{s.WakeupBytes, wakeupBytes(cfg)},
		{s.Correlate, boolByte(cfg.Correlate)},
		{s.SelfTgid, cfg.ExcludePID},
	} {
		if err := v.spec.Set(v.value); err != nil {
			return fmt.Errorf("set %s: %w", v.spec.Name, err)
		}
	}
	return nil
}

// configureStacks chooses where threads' call stacks live: task storage (cheapest: no hashing,
// nothing to delete) or the hash table, bounded by maxInflight. The map not chosen is shrunk to
// one entry of a type every kernel has, as the programs never touch it.
func configureStacks(s *kretspanSpecs, maxInflight uint32) error {
	taskStorage := maxInflight == 0 && haveTaskStorage() == nil
	if taskStorage {
		s.Stacks.MaxEntries = 1
	} else {
		unused := s.TaskStacks
		unused.Type, unused.Flags, unused.MaxEntries = ebpf.Array, 0, 1
		s.Stacks.MaxEntries = inflightThreads(maxInflight)
	}
	if err := s.UseTaskStorage.Set(boolByte(taskStorage)); err != nil {
		return fmt.Errorf("set use_task_storage: %w", err)
	}
	return nil
}

// inflightThreads is how many threads' calls in flight the tables keep: --max-inflight, else
// DefaultMaxInflight.
func inflightThreads(maxInflight uint32) uint32 {
	if maxInflight == 0 {
		return DefaultMaxInflight
	}
	return maxInflight
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (t *Tracer) start(cfg Config, probes []Probe, sched schedHook) error {
	base := t.spec.Copy()
	base.Programs = nil
	var opts ebpf.CollectionOptions
	if cfg.Correlate {
		dir, err := ensureBPFFS(cfg.BPFFS)
		if err != nil {
			return err
		}
		base.Maps[kretspanMapTracesCtxV1].Pinning = ebpf.PinByName
		opts.Maps.PinPath = dir
	}
	objects, err := ebpf.NewCollectionWithOptions(base, opts)
	if err != nil {
		if cfg.Correlate {
			return fmt.Errorf("open the shared trace-context map %s (another tool may have created it differently; --no-correlation runs without it): %w",
				TraceContextMapPath(cfg.BPFFS), explainPermission(err))
		}
		return fmt.Errorf("create BPF maps: %w", explainPermission(err))
	}
	t.objects = objects
	t.sharedMaps = map[string]*ebpf.Map{}
	for name, m := range objects.Maps {
		if name != ".rodata" {
			t.sharedMaps[name] = m
		}
	}
	if err := objects.Assign(&t.maps); err != nil {
		return fmt.Errorf("BPF maps: %w", err)
	}
	for _, pid := range cfg.PIDs {
		if err := t.maps.PidFilter.Put(pid, uint8(1)); err != nil {
			return fmt.Errorf("set pid filter: %w", err)
		}
	}
	for i, dir := range cfg.Cgroups {
		if err := putCgroup(t.maps.CgroupFilter, uint32(i), dir); err != nil {
			return err
		}
	}
	for _, p := range probes {
		if err := t.maps.ProbeConfigs.Put(p.ID, probeConfig(p)); err != nil {
			return fmt.Errorf("configure probe %s: %w", p.Label(), err)
		}
		if !p.capturesArgs() {
			continue
		}
		plan, err := argPlan(p.Args)
		if err != nil {
			return fmt.Errorf("probe %s: %w", p.Label(), err)
		}
		if err := t.maps.ArgPlans.Put(p.ID, plan); err != nil {
			return fmt.Errorf("configure probe %s's arguments: %w", p.Label(), err)
		}
	}

	if sched.name != "" {
		if err := t.attachSched(sched); err != nil {
			return err
		}
	}
	// Targets with programs of their own attach in order; one copy of a mechanism's programs
	// serves the others, attached together.
	shared := map[probe.Mechanism][]Probe{}
	for _, p := range probes {
		a := attachments[p.Mechanism]
		if a.instance == nil {
			shared[p.Mechanism] = append(shared[p.Mechanism], p)
			continue
		}
		if err := t.attach(p.Label(), a, []Probe{p}, func(s *kretspanSpecs) error { return a.instance(s, p) }); err != nil {
			return err
		}
	}
	for _, m := range probe.Mechanisms() {
		if group := shared[m]; len(group) > 0 {
			if err := t.attach(m.String()+" programs", attachments[m], group, nil); err != nil {
				return err
			}
		}
	}
	for _, m := range cfg.Markers {
		if err := t.AttachMarker(m); err != nil {
			return err
		}
	}
	if err := t.attachThreadExit(); err != nil {
		return err
	}
	if cfg.OnExec != nil {
		if err := t.attachExecs(cfg.OnExec); err != nil {
			return err
		}
	}

	t.reader, err = ringbuf.NewReader(t.maps.Events)
	if err != nil {
		return fmt.Errorf("open ring buffer reader: %w", err)
	}
	t.waiter, _ = newRingWaiter(t.maps.Events) // without it, the reader's own waiting does
	return nil
}

// putCgroup puts a cgroup v2 directory in the cgroup filter; the map keeps its own reference to
// the cgroup, so the directory's descriptor is closed again.
func putCgroup(m *ebpf.Map, index uint32, dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := m.Put(index, uint32(fd)); err != nil {
		return fmt.Errorf("set cgroup filter to %s (a cgroup v2 directory?): %w", dir, err)
	}
	return nil
}

// attach loads a copy of a mechanism's programs, set up by instance, and attaches it to probes.
func (t *Tracer) attach(what string, a attachment, probes []Probe, instance func(*kretspanSpecs) error) error {
	programs, err := t.loadInstance(instance, a.entry, a.ret)
	if err != nil {
		return fmt.Errorf("load %s: %w", what, err)
	}
	return a.attach(t, programs[0], programs[1], probes)
}

func probeConfig(p Probe) kretspanProbeConfig {
	c := kretspanProbeConfig{
		MinDurationNs: uint64(max(p.Filter.MinDuration, 0)),
		ErrorsOnly:    boolByte(p.Filter.ErrorsOnly),
		RetInt32:      boolByte(p.RetInt32),
		Sched:         boolByte(p.Filter.Sched),
		Args:          boolByte(p.capturesArgs()),
		SampleAll:     1,
	}
	if ratio := p.Filter.SampleRatio; ratio > 0 && ratio < 1 {
		c.SampleAll = 0
		c.SampleKeepBelow = uint32(math.Round(ratio * math.MaxUint32))
	}
	for i, n := range p.Filter.NotFailures { // errno.ParseSet bounds the list to the array
		c.NotFailures[i] = uint16(n)
	}
	return c
}

// loadInstance loads a copy of the picked programs that shares kretspan's maps; what instance
// sets are constants of this copy, which the verifier uses to prune dead branches.
func (t *Tracer) loadInstance(instance func(*kretspanSpecs) error, pick ...func(*kretspanProgramSpecs) *ebpf.ProgramSpec) ([]*ebpf.Program, error) {
	spec := t.spec.Copy()
	var s kretspanSpecs
	if err := spec.Assign(&s); err != nil {
		return nil, fmt.Errorf("BPF object: %w", err)
	}
	if instance != nil {
		if err := instance(&s); err != nil {
			return nil, err
		}
	}
	names := make([]string, len(pick))
	for name, prog := range spec.Programs {
		i := slices.IndexFunc(pick, func(p func(*kretspanProgramSpecs) *ebpf.ProgramSpec) bool { return p(&s.kretspanProgramSpecs) == prog })
		if i < 0 {
			delete(spec.Programs, name)
			continue
		}
		names[i] = name
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: t.sharedMaps})
	if err != nil {
		return nil, explainPermission(err)
	}
	// The copy holds a clone of every shared map and its own constants; its programs keep what
	// they use alive in the kernel, so the copy's map descriptors (a dozen per probe) can go.
	for name, m := range coll.Maps {
		m.Close()
		delete(coll.Maps, name)
	}
	t.collections = append(t.collections, coll)
	programs := make([]*ebpf.Program, len(names))
	for i, name := range names {
		programs[i] = coll.Programs[name]
	}
	return programs, nil
}

// attachThreadExit frees the stacks of threads that exit inside probed calls.
func (t *Tracer) attachThreadExit() error {
	return t.attachSchedTracepoint("sched_process_exit", "thread-exit", func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.ThreadExit })
}

// attachSchedTracepoint loads a program and attaches it to a tracepoint of the sched subsystem.
func (t *Tracer) attachSchedTracepoint(event, what string, program func(*kretspanProgramSpecs) *ebpf.ProgramSpec) error {
	programs, err := t.loadInstance(nil, program)
	if err != nil {
		return fmt.Errorf("load %s program: %w", what, err)
	}
	l, err := link.Tracepoint("sched", event, programs[0], nil)
	if err != nil {
		return fmt.Errorf("attach tracepoint sched:%s: %w", event, explainPermission(err))
	}
	t.links = append(t.links, l)
	return nil
}

// executable opens a binary for uprobes, once.
func (t *Tracer) executable(path string) (*link.Executable, error) {
	if exe, ok := t.executables[path]; ok {
		return exe, nil
	}
	exe, err := link.OpenExecutable(path)
	if err != nil {
		return nil, err
	}
	t.executables[path] = exe
	return exe, nil
}

// AttachMarker attaches to the binding marker of kretspan's application libraries in a binary;
// on error nothing of it stays attached.
func (t *Tracer) AttachMarker(m probe.Marker) error {
	exe, err := t.executable(m.Binary)
	if err != nil {
		return fmt.Errorf("attach marker in %s: %w", m.Binary, err)
	}
	binary, symbol := m.Binary, m.Symbol
	program := func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.MarkerC }
	if m.Go {
		program = func(p *kretspanProgramSpecs) *ebpf.ProgramSpec { return p.MarkerGo }
	}
	programs, err := t.loadInstance(nil, program)
	if err != nil {
		return fmt.Errorf("load marker program: %w", err)
	}
	l, err := exe.Uprobe(symbol, programs[0], nil)
	if err != nil {
		return fmt.Errorf("attach marker %s in %s: %w", symbol, binary, explainPermission(err, capSysAdmin))
	}
	t.links = append(t.links, l)
	return nil
}

// Read calls onEvent for every record until Stop or Close. The Event is valid only during the
// call. onIdle runs whenever the ring has been drained, at least every poll interval.
func (t *Tracer) Read(onEvent func(*Event), onIdle func()) error {
	var record ringbuf.Record
	nextWait := func() { t.reader.SetDeadline(time.Now().Add(t.poll)) }
	if t.waiter != nil {
		// ReadInto never blocks: it drains what is there, and the waiter waits until the programs
		// wake it. The reader's own wait would return as soon as a single record is there, which
		// at high rates makes the drain a few records per system call.
		nextWait = func() {
			t.reader.SetDeadline(time.Unix(1, 0))
			if err := t.waiter.wait(time.Now().Add(t.poll), func() bool { return t.reader.AvailableBytes() >= t.wakeupBytes }); err != nil {
				t.waiter = nil // the reader's own waiting still works
			}
		}
		t.reader.SetDeadline(time.Unix(1, 0))
	} else {
		nextWait()
	}
	for {
		err := t.reader.ReadInto(&record)
		switch {
		case err == nil:
			event, err := DecodeEvent(record.RawSample)
			if err != nil {
				return err
			}
			// A process executes its program before it makes the call: its exec record is in its
			// ring by the time the call's record is read.
			if t.execs.pending() {
				if err := t.execs.drain(); err != nil {
					return err
				}
			}
			onEvent(event)
		case errors.Is(err, os.ErrDeadlineExceeded):
			if err := t.execs.drain(); err != nil {
				return err
			}
			onIdle()
			nextWait()
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, ringbuf.ErrClosed):
			onIdle()
			return nil
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
	}
}

// Stop detaches every probe, then makes Read return once it has delivered what the ring holds.
// It may be called more than once, from any goroutine: the first call does the work.
func (t *Tracer) Stop() error {
	t.stopOnce.Do(func() {
		t.misses = t.readKernelMisses()
		t.stopErr = t.detach()
		if t.reader != nil {
			t.stopErr = errors.Join(t.stopErr, t.reader.Flush())
		}
		if t.waiter != nil {
			t.waiter.stop()
		}
	})
	return t.stopErr
}

func (t *Tracer) detach() error {
	var errs []error
	for _, l := range slices.Backward(t.links) {
		errs = append(errs, l.Close())
	}
	t.links = nil
	return errors.Join(errs...)
}

// Misses returns the kernel's own miss counts, as read when the tracer stopped. Call it after Stop.
func (t *Tracer) Misses() KernelMisses { return t.misses }

func (t *Tracer) readKernelMisses() KernelMisses {
	var m KernelMisses
	for _, l := range t.links {
		info, err := l.Info()
		if err != nil {
			continue // older kernels report no link info
		}
		if multi := info.KprobeMulti(); multi != nil {
			m.Probe += multi.Missed
		}
		if event := info.PerfEvent(); event != nil && event.Kprobe() != nil {
			m.Probe += event.Kprobe().Missed
		}
	}
	for _, c := range t.collections {
		for _, prog := range c.Programs {
			if stats, err := prog.Stats(); err == nil {
				m.Recursion += stats.RecursionMisses
			}
		}
	}
	return m
}

// Counts returns each probe's counters, summed over CPUs, indexed by probe id.
func (t *Tracer) Counts() ([]ProbeCounts, error) {
	m := t.maps.Counters
	totals := make([]ProbeCounts, m.MaxEntries())
	var perCPU []ProbeCounts
	for id := range totals {
		if err := m.Lookup(uint32(id), &perCPU); err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		for i := range perCPU {
			totals[id].Add(&perCPU[i])
		}
	}
	return totals, nil
}

// Close detaches and frees everything. Safe to call on a partly started Tracer.
func (t *Tracer) Close() error {
	errs := []error{t.detach()}
	if t.reader != nil {
		errs = append(errs, t.reader.Close())
	}
	errs = append(errs, t.execs.close())
	if t.waiter != nil {
		errs = append(errs, t.waiter.close())
	}
	for _, c := range t.collections {
		c.Close()
	}
	if t.objects != nil {
		t.maps.Close()
		t.objects.Close()
	}
	return errors.Join(errs...)
}
