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

	"github.com/kretspan/kretspan/probe"
)

// Config holds the settings that apply to every probe.
type Config struct {
	KernelThreads bool     // trace kernel threads too
	PIDs          []uint32 // only these processes (tgids); empty: all
	Comm          string   // only threads with this command name; empty: all
	ExcludePID    uint32   // never this process (kretspan's own, whose exports would trace themselves)
	// MaxInflight bounds the threads with calls in flight at once (the seed's maxactive), their
	// call stacks in a preallocated table. 0: no bound but the thread count, each thread's stack
	// in its task storage, where the kernel has it (5.11+); else a table of DefaultMaxInflight.
	MaxInflight    uint32
	RingBufferSize uint32 // bytes; a power of two and a multiple of the page size
	// WakeupBytes wakes the reader only once this much data waits; a quiet ring is still
	// drained on the reader's poll deadline.
	WakeupBytes  uint64
	PollInterval time.Duration
	KprobeMulti  bool // attach kprobes through one kprobe.multi link (kernel 5.18+)
	// Correlate parents root calls under application spans: those bound by kretspan's marker and
	// those in the shared map traces_ctx_v1, pinned under BPFFS (created if absent).
	Correlate bool
	BPFFS     string
	Markers   []probe.Marker // binaries whose binding marker must be attached (with Correlate)
}

// TraceContextMapPath is where the OpenTelemetry eBPF tools share per-thread trace contexts.
func TraceContextMapPath(bpffs string) string { return filepath.Join(bpffs, "otel", "traces_ctx_v1") }

// Filter holds one probe's in-kernel filters.
type Filter struct {
	MinDuration time.Duration
	SampleRatio float64 // (0, 1]; applies at the root of a nest, children follow
	ErrorsOnly  bool
}

// Probe is one target with its filters.
type Probe struct {
	probe.Target
	Filter Filter
}

// Tracer owns everything kretspan has in the kernel: maps, programs, links and the ring reader.
type Tracer struct {
	spec        *ebpf.CollectionSpec
	objects     *ebpf.Collection // the shared maps
	sharedMaps  map[string]*ebpf.Map
	collections []*ebpf.Collection
	links       []link.Link
	executables map[string]*link.Executable
	reader      *ringbuf.Reader
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
	spec, err := loadKretspan()
	if err != nil {
		return nil, fmt.Errorf("load BPF object: %w", err)
	}
	if err := configure(spec, cfg, len(probes)); err != nil {
		return nil, err
	}
	if err := ensureFileLimit(fileDescriptorsNeeded(cfg, probes)); err != nil {
		return nil, err
	}
	t := &Tracer{spec: spec, executables: map[string]*link.Executable{}, poll: cfg.PollInterval}
	if t.poll <= 0 {
		t.poll = 100 * time.Millisecond
	}
	if err := t.start(cfg, probes); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// DefaultMaxInflight sizes the call-stack table on kernels without task storage.
const DefaultMaxInflight = 10240

func configure(spec *ebpf.CollectionSpec, cfg Config, probeCount int) error {
	if err := configureStacks(spec, cfg.MaxInflight); err != nil {
		return err
	}
	ringSize := cfg.RingBufferSize
	page := uint32(os.Getpagesize())
	if ringSize < page || ringSize&(ringSize-1) != 0 {
		return fmt.Errorf("ring buffer size %d: want a power of two of at least %d bytes", ringSize, page)
	}
	spec.Maps[kretspanMapEvents].MaxEntries = ringSize
	spec.Maps[kretspanMapCounters].MaxEntries = uint32(probeCount + 1)
	spec.Maps[kretspanMapProbeConfigs].MaxEntries = uint32(probeCount + 1)
	spec.Maps[kretspanMapPidFilter].MaxEntries = uint32(max(len(cfg.PIDs), 1))

	var comm [16]byte
	if len(cfg.Comm) >= len(comm) {
		return fmt.Errorf("command name %q is longer than the kernel's 15 characters", cfg.Comm)
	}
	copy(comm[:], cfg.Comm)
	// Past half the ring a producer would fill it before the reader is woken.
	wakeup := min(max(cfg.WakeupBytes, 1), uint64(ringSize/2))
	for name, value := range map[string]any{
		"trace_kernel_threads": boolByte(cfg.KernelThreads),
		"filter_pids":          boolByte(len(cfg.PIDs) > 0),
		"filter_comm":          boolByte(cfg.Comm != ""),
		"comm_filter":          comm,
		"wakeup_bytes":         wakeup,
		"correlate":            boolByte(cfg.Correlate),
		"self_tgid":            cfg.ExcludePID,
	} {
		if err := spec.Variables[name].Set(value); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// configureStacks chooses where threads' call stacks live: task storage (cheapest: no hashing,
// nothing to delete) or the hash table, bounded by maxInflight. The map not chosen is shrunk to
// one entry of a type every kernel has, as the programs never touch it.
func configureStacks(spec *ebpf.CollectionSpec, maxInflight uint32) error {
	taskStorage := maxInflight == 0 && haveTaskStorage() == nil
	if maxInflight == 0 {
		maxInflight = DefaultMaxInflight
	}
	if taskStorage {
		spec.Maps[kretspanMapStacks].MaxEntries = 1
	} else {
		unused := spec.Maps[kretspanMapTaskStacks]
		unused.Type, unused.Flags, unused.MaxEntries = ebpf.Array, 0, 1
		spec.Maps[kretspanMapStacks].MaxEntries = maxInflight
	}
	if err := spec.Variables["use_task_storage"].Set(boolByte(taskStorage)); err != nil {
		return fmt.Errorf("set use_task_storage: %w", err)
	}
	return nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (t *Tracer) start(cfg Config, probes []Probe) error {
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
	for _, pid := range cfg.PIDs {
		if err := objects.Maps[kretspanMapPidFilter].Put(pid, uint8(1)); err != nil {
			return fmt.Errorf("set pid filter: %w", err)
		}
	}
	for _, p := range probes {
		if err := objects.Maps[kretspanMapProbeConfigs].Put(p.ID, probeConfig(p)); err != nil {
			return fmt.Errorf("configure probe %s: %w", p.Label(), err)
		}
	}

	var syscalls, kprobes []Probe
	for _, p := range probes {
		switch p.Kind {
		case probe.KindSyscall:
			syscalls = append(syscalls, p)
		case probe.KindKprobe:
			if cfg.KprobeMulti {
				kprobes = append(kprobes, p)
				continue
			}
			err = t.attachKprobe(p)
		case probe.KindFentry:
			err = t.attachFentry(p)
		case probe.KindUprobe:
			err = t.attachUprobe(p)
		default:
			err = fmt.Errorf("probe %s: unknown mechanism %q", p.Label(), p.Kind)
		}
		if err != nil {
			return err
		}
	}
	if err := t.attachSyscalls(syscalls); err != nil {
		return err
	}
	for _, m := range cfg.Markers {
		if err := t.AttachMarker(m); err != nil {
			return err
		}
	}
	if err := t.attachThreadExit(); err != nil {
		return err
	}
	if err := t.attachKprobeMulti(kprobes); err != nil {
		return err
	}

	t.reader, err = ringbuf.NewReader(objects.Maps[kretspanMapEvents])
	if err != nil {
		return fmt.Errorf("open ring buffer reader: %w", err)
	}
	return nil
}

func probeConfig(p Probe) kretspanProbeConfig {
	c := kretspanProbeConfig{
		MinDurationNs: uint64(max(p.Filter.MinDuration, 0)),
		ErrorsOnly:    boolByte(p.Filter.ErrorsOnly),
		RetInt32:      boolByte(p.RetInt32),
		SampleAll:     1,
	}
	if ratio := p.Filter.SampleRatio; ratio > 0 && ratio < 1 {
		c.SampleAll = 0
		c.SampleKeepBelow = uint32(math.Round(ratio * math.MaxUint32))
	}
	return c
}

// loadInstance loads a copy of the named programs that shares kretspan's maps; the variables set
// here are constants of this copy, which the verifier uses to prune dead branches.
func (t *Tracer) loadInstance(programs []string, variables map[string]any, attachTo string) (*ebpf.Collection, error) {
	spec := t.spec.Copy()
	for name := range spec.Programs {
		if !slices.Contains(programs, name) {
			delete(spec.Programs, name)
		} else if attachTo != "" {
			spec.Programs[name].AttachTo = attachTo
		}
	}
	for name, value := range variables {
		if err := spec.Variables[name].Set(value); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
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
	return coll, nil
}

func (t *Tracer) attachSyscalls(probes []Probe) error {
	if len(probes) == 0 {
		return nil
	}
	coll, err := t.loadInstance([]string{kretspanProgSyscallEntry, kretspanProgSyscallReturn}, nil, "")
	if err != nil {
		return fmt.Errorf("load syscall programs: %w", err)
	}
	for _, p := range probes {
		if err := t.objects.Maps[kretspanMapSyscallProbes].Put(uint32(p.SyscallNumber), p.ID); err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), err)
		}
		exit, err := link.Tracepoint("syscalls", "sys_exit_"+p.Name, coll.Programs[kretspanProgSyscallReturn], nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, exit)
		enter, err := link.Tracepoint("syscalls", "sys_enter_"+p.Name, coll.Programs[kretspanProgSyscallEntry], nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, enter)
	}
	return nil
}

// attachThreadExit frees the stacks of threads that exit inside probed calls.
func (t *Tracer) attachThreadExit() error {
	coll, err := t.loadInstance([]string{kretspanProgThreadExit}, nil, "")
	if err != nil {
		return fmt.Errorf("load thread-exit program: %w", err)
	}
	l, err := link.Tracepoint("sched", "sched_process_exit", coll.Programs[kretspanProgThreadExit], nil)
	if err != nil {
		return fmt.Errorf("attach tracepoint sched:sched_process_exit: %w", explainPermission(err))
	}
	t.links = append(t.links, l)
	return nil
}

func (t *Tracer) attachKprobe(p Probe) error {
	coll, err := t.loadInstance([]string{kretspanProgKprobeEntry, kretspanProgKprobeReturn},
		map[string]any{"instance_probe_id": p.ID}, "")
	if err != nil {
		return fmt.Errorf("load %s: %w", p.Label(), err)
	}
	ret, err := link.Kretprobe(p.Name, coll.Programs[kretspanProgKprobeReturn], nil)
	if err != nil {
		return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
	}
	t.links = append(t.links, ret)
	entry, err := link.Kprobe(p.Name, coll.Programs[kretspanProgKprobeEntry], nil)
	if err != nil {
		return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
	}
	t.links = append(t.links, entry)
	return nil
}

// attachKprobeMulti attaches all kprobes through one entry and one return link; the attach
// cookie carries each function's probe id.
func (t *Tracer) attachKprobeMulti(probes []Probe) error {
	if len(probes) == 0 {
		return nil
	}
	coll, err := t.loadInstance([]string{kretspanProgKprobeMultiEntry, kretspanProgKprobeMultiReturn}, nil, "")
	if err != nil {
		return fmt.Errorf("load kprobe.multi programs: %w", err)
	}
	opts := link.KprobeMultiOptions{}
	for _, p := range probes {
		opts.Symbols = append(opts.Symbols, p.Name)
		opts.Cookies = append(opts.Cookies, uint64(p.ID))
	}
	ret, err := link.KretprobeMulti(coll.Programs[kretspanProgKprobeMultiReturn], opts)
	if err != nil {
		return fmt.Errorf("attach %d kretprobes with kprobe.multi: %w", len(probes), explainPermission(err))
	}
	t.links = append(t.links, ret)
	entry, err := link.KprobeMulti(coll.Programs[kretspanProgKprobeMultiEntry], opts)
	if err != nil {
		return fmt.Errorf("attach %d kprobes with kprobe.multi: %w", len(probes), explainPermission(err))
	}
	t.links = append(t.links, entry)
	return nil
}

func (t *Tracer) attachFentry(p Probe) error {
	coll, err := t.loadInstance([]string{kretspanProgFentryEntry, kretspanProgFexitReturn},
		map[string]any{"instance_probe_id": p.ID, "fexit_ret_index": uint32(p.ArgCount)}, p.Name)
	if err != nil {
		return fmt.Errorf("load %s: %w", p.Label(), err)
	}
	for _, prog := range []*ebpf.Program{coll.Programs[kretspanProgFexitReturn], coll.Programs[kretspanProgFentryEntry]} {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err))
		}
		t.links = append(t.links, l)
	}
	return nil
}

func (t *Tracer) attachUprobe(p Probe) error {
	exe, ok := t.executables[p.Binary]
	if !ok {
		var err error
		if exe, err = link.OpenExecutable(p.Binary); err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), err)
		}
		t.executables[p.Binary] = exe
	}
	programs := []string{kretspanProgUprobeEntry, kretspanProgUprobeReturn}
	if p.GoReturnOffsets != nil {
		programs = []string{kretspanProgUprobeEntry, kretspanProgUprobeRetInstruction}
	}
	coll, err := t.loadInstance(programs, map[string]any{"instance_probe_id": p.ID}, "")
	if err != nil {
		return fmt.Errorf("load %s: %w", p.Label(), err)
	}
	if p.GoReturnOffsets == nil {
		ret, err := exe.Uretprobe(p.Name, coll.Programs[kretspanProgUprobeReturn], nil)
		if err != nil {
			return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err, capSysAdmin))
		}
		t.links = append(t.links, ret)
	}
	for _, offset := range p.GoReturnOffsets {
		ret, err := exe.Uprobe(p.Name, coll.Programs[kretspanProgUprobeRetInstruction], &link.UprobeOptions{Offset: offset})
		if err != nil {
			return fmt.Errorf("attach %s return at +%#x: %w", p.Label(), offset, explainPermission(err, capSysAdmin))
		}
		t.links = append(t.links, ret)
	}
	entry, err := exe.Uprobe(p.Name, coll.Programs[kretspanProgUprobeEntry], &link.UprobeOptions{Offset: p.GoEntryOffset})
	if err != nil {
		return fmt.Errorf("attach %s: %w", p.Label(), explainPermission(err, capSysAdmin))
	}
	t.links = append(t.links, entry)
	return nil
}

// AttachMarker attaches to the binding marker of kretspan's application libraries in a binary;
// on error nothing of it stays attached.
func (t *Tracer) AttachMarker(m probe.Marker) error {
	exe, ok := t.executables[m.Binary]
	if !ok {
		var err error
		if exe, err = link.OpenExecutable(m.Binary); err != nil {
			return fmt.Errorf("attach marker in %s: %w", m.Binary, err)
		}
		t.executables[m.Binary] = exe
	}
	binary, symbol := m.Binary, m.Symbol
	program := kretspanProgMarkerC
	if m.Go {
		program = kretspanProgMarkerGo
	}
	coll, err := t.loadInstance([]string{program}, nil, "")
	if err != nil {
		return fmt.Errorf("load marker program: %w", err)
	}
	l, err := exe.Uprobe(symbol, coll.Programs[program], nil)
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
	t.reader.SetDeadline(time.Now().Add(t.poll))
	for {
		err := t.reader.ReadInto(&record)
		switch {
		case err == nil:
			event, err := DecodeEvent(record.RawSample)
			if err != nil {
				return err
			}
			onEvent(event)
		case errors.Is(err, os.ErrDeadlineExceeded):
			onIdle()
			t.reader.SetDeadline(time.Now().Add(t.poll))
		case errors.Is(err, ringbuf.ErrFlushed), errors.Is(err, ringbuf.ErrClosed):
			onIdle()
			return nil
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
	}
}

// Return probes are attached before entry probes, and detached after them (links close in
// reverse order), so that no call is entered without its return being watched: such a frame would stay on
// its thread's stack and parent later calls under a span that never arrives.

// Stop detaches every probe, then makes Read return once it has delivered what the ring holds.
// It may be called more than once, from any goroutine: the first call does the work.
func (t *Tracer) Stop() error {
	t.stopOnce.Do(func() {
		t.misses = t.readKernelMisses()
		t.stopErr = t.detach()
		if t.reader != nil {
			t.stopErr = errors.Join(t.stopErr, t.reader.Flush())
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

// Counters returns each probe's counters, summed over CPUs, indexed by probe id.
func (t *Tracer) Counters() ([]ProbeCounters, error) {
	m := t.objects.Maps[kretspanMapCounters]
	totals := make([]ProbeCounters, m.MaxEntries())
	var perCPU []ProbeCounters
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
	for _, c := range t.collections {
		c.Close()
	}
	if t.objects != nil {
		t.objects.Close()
	}
	return errors.Join(errs...)
}
