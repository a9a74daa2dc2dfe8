package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// The baselines: BPF programs built from instructions with cilium/ebpf's asm package (no clang),
// attached to the same hooks as kretspan.
//
//   empty:   return 0.
//   minimal: at entry, store bpf_ktime_get_ns() under the thread (pid_tgid) in a hash map; at
//            return, look it up, reserve, fill and submit one 40-byte ring-buffer record, delete
//            the entry. Wakeups are batched as kretspan batches them: BPF_RB_NO_WAKEUP until the
//            ring holds minimalWakeupBytes, then BPF_RB_FORCE_WAKEUP; the reader also polls on a
//            deadline.

const (
	minimalRecordSize  = 40
	minimalWakeupBytes = 512 * minimalRecordSize
	minimalRingSize    = 8 << 20 // kretspan's default --ringbuf-size
	minimalMaxThreads  = 10240   // kretspan's default --max-inflight

	rbNoWakeup    = 1 // BPF_RB_NO_WAKEUP
	rbForceWakeup = 2 // BPF_RB_FORCE_WAKEUP
	rbAvailData   = 0 // BPF_RB_AVAIL_DATA
)

// hook is where a benchmark's probes go.
type hook struct {
	name   string // "tracepoint" or "uprobe"
	call   string // the workload's call: getppid or func
	binary string // the workload, for uprobes
}

func (h hook) progType() ebpf.ProgramType {
	if h.name == "uprobe" {
		return ebpf.Kprobe
	}
	return ebpf.TracePoint
}

// attach attaches entry and return programs; links close in reverse order.
func (h hook) attach(entry, ret *ebpf.Program) ([]link.Link, error) {
	var links []link.Link
	add := func(l link.Link, err error) error {
		if err == nil {
			links = append(links, l)
		}
		return err
	}
	var err error
	if h.name == "uprobe" {
		ex, e := link.OpenExecutable(h.binary)
		if e != nil {
			return nil, e
		}
		err = add(ex.Uretprobe(benchFunc, ret, nil))
		if err == nil {
			err = add(ex.Uprobe(benchFunc, entry, nil))
		}
	} else {
		err = add(link.Tracepoint("syscalls", "sys_exit_getppid", ret, nil))
		if err == nil {
			err = add(link.Tracepoint("syscalls", "sys_enter_getppid", entry, nil))
		}
	}
	if err != nil {
		closeLinks(links)
		return nil, fmt.Errorf("attach %s: %w", h.name, err)
	}
	return links, nil
}

func closeLinks(links []link.Link) {
	for i := len(links) - 1; i >= 0; i-- {
		links[i].Close()
	}
}

// baseline is an attached baseline; stop detaches it and reports the records it drained.
type baseline struct {
	links    []link.Link
	progs    []*ebpf.Program
	maps     []*ebpf.Map
	reader   *ringbuf.Reader
	records  atomic.Uint64
	readDone sync.WaitGroup
}

func newProgram(t ebpf.ProgramType, insns asm.Instructions) (*ebpf.Program, error) {
	return ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{Type: t, Instructions: insns, License: "Dual BSD/GPL"}, ebpf.ProgramOptions{})
}

func startEmpty(h hook) (*baseline, error) {
	b := &baseline{}
	for range 2 {
		p, err := newProgram(h.progType(), asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
		if err != nil {
			b.stop()
			return nil, fmt.Errorf("load empty program: %w", err)
		}
		b.progs = append(b.progs, p)
	}
	links, err := h.attach(b.progs[0], b.progs[1])
	if err != nil {
		b.stop()
		return nil, err
	}
	b.links = links
	return b, nil
}

func startMinimal(h hook) (*baseline, error) {
	b := &baseline{}
	starts, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: minimalMaxThreads})
	if err != nil {
		return nil, fmt.Errorf("create hash map: %w", err)
	}
	b.maps = append(b.maps, starts)
	ring, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: minimalRingSize})
	if err != nil {
		b.stop()
		return nil, fmt.Errorf("create ring buffer: %w", err)
	}
	b.maps = append(b.maps, ring)

	entry := asm.Instructions{
		asm.FnGetCurrentPidTgid.Call(),
		asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord), // key: pid_tgid
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, -16, asm.R0, asm.DWord), // value: start
		asm.LoadMapPtr(asm.R1, starts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -16),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
	ret := asm.Instructions{
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, starts.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R8, asm.R0, 0, asm.DWord), // start
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R9, asm.R0), // end
		asm.LoadMapPtr(asm.R1, ring.FD()),
		asm.Mov.Imm(asm.R2, minimalRecordSize),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "delete"),
		asm.Mov.Reg(asm.R6, asm.R0),
		asm.StoreMem(asm.R6, 0, asm.R7, asm.DWord),  // pid_tgid
		asm.StoreMem(asm.R6, 8, asm.R8, asm.DWord),  // start
		asm.StoreMem(asm.R6, 16, asm.R9, asm.DWord), // end
		asm.Sub.Reg(asm.R9, asm.R8),
		asm.StoreMem(asm.R6, 24, asm.R9, asm.DWord), // duration
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.R6, 32, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, ring.FD()),
		asm.Mov.Imm(asm.R2, rbAvailData),
		asm.FnRingbufQuery.Call(),
		asm.Mov.Imm(asm.R2, rbNoWakeup),
		asm.JLT.Imm(asm.R0, minimalWakeupBytes, "submit"),
		asm.Mov.Imm(asm.R2, rbForceWakeup),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("submit"),
		asm.FnRingbufSubmit.Call(),
		asm.LoadMapPtr(asm.R1, starts.FD()).WithSymbol("delete"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.FnMapDeleteElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	for _, insns := range []asm.Instructions{entry, ret} {
		p, err := newProgram(h.progType(), insns)
		if err != nil {
			b.stop()
			return nil, fmt.Errorf("load minimal program: %w", err)
		}
		b.progs = append(b.progs, p)
	}
	if b.reader, err = ringbuf.NewReader(ring); err != nil {
		b.stop()
		return nil, fmt.Errorf("ring-buffer reader: %w", err)
	}
	b.readDone.Add(1)
	go b.read()
	if b.links, err = h.attach(b.progs[0], b.progs[1]); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// read drains the ring until the reader is closed, polling on a deadline so that records
// submitted without a wakeup are still read.
func (b *baseline) read() {
	defer b.readDone.Done()
	var rec ringbuf.Record
	for {
		b.reader.SetDeadline(time.Now().Add(100 * time.Millisecond))
		err := b.reader.ReadInto(&rec)
		switch {
		case err == nil:
			b.records.Add(1)
		case errors.Is(err, os.ErrDeadlineExceeded):
		default:
			return // closed
		}
	}
}

// stop detaches, drains what is left and frees everything; it returns the records read.
func (b *baseline) stop() uint64 {
	closeLinks(b.links)
	b.links = nil
	if b.reader != nil {
		// Let the reader drain what the ring still holds (its next deadline at the latest).
		for last := ^uint64(0); ; {
			time.Sleep(150 * time.Millisecond)
			n := b.records.Load()
			if n == last {
				break
			}
			last = n
		}
		b.reader.Close()
		b.readDone.Wait()
	}
	for _, p := range b.progs {
		p.Close()
	}
	for _, m := range b.maps {
		m.Close()
	}
	return b.records.Load()
}
