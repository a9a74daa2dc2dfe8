package userargs

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// These tests run the workloads and stop them at a function's first instruction with ptrace, then
// follow each Read as the BPF side would (registers by their pt_regs offset: the kernel's
// user_regs_struct, which ptrace returns, begins with pt_regs's layout), and compare what they
// read with the arguments the workload passed.

// stoppedCall is a workload's thread stopped at the entry of a function.
type stoppedCall struct {
	t    *testing.T
	tid  int
	regs syscall.PtraceRegs
}

func (c *stoppedCall) memory(address uint64, n int) []byte {
	c.t.Helper()
	out := make([]byte, n)
	if _, err := syscall.PtracePeekData(c.tid, uintptr(address), out); err != nil {
		c.t.Fatalf("read %d bytes at %#x: %v", n, address, err)
	}
	return out
}

// part is the 8 bytes at a Location.
func (c *stoppedCall) part(l Location) uint64 {
	if l.Register {
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&c.regs)), unsafe.Sizeof(c.regs))
		return binary.LittleEndian.Uint64(raw[l.Offset:])
	}
	return binary.LittleEndian.Uint64(c.memory(c.regs.Rsp+uint64(l.Offset), 8))
}

// value follows a Read and formats what it reads: integers in decimal, strings as they are.
func (c *stoppedCall) value(read Read) string {
	raw := make([]byte, 16)
	binary.LittleEndian.PutUint64(raw, c.part(read.Argument.Parts[0]))
	if len(read.Argument.Parts) > 1 {
		binary.LittleEndian.PutUint64(raw[8:], c.part(read.Argument.Parts[1]))
	}
	if n := len(read.Hops); n > 0 {
		v := binary.LittleEndian.Uint64(raw)
		for _, hop := range read.Hops[:n-1] {
			v = binary.LittleEndian.Uint64(c.memory(v+uint64(hop.Offset), 8))
		}
		raw = c.memory(v+uint64(read.Hops[n-1].Offset), read.Type.Size)
	}
	switch read.Type.Kind {
	case Signed, Enum:
		var v uint64
		for i := read.Type.Size - 1; i >= 0; i-- {
			v = v<<8 | uint64(raw[i])
		}
		return strconv.FormatInt(signExtend(int64(v), read.Type.Size), 10)
	case Unsigned, Bool:
		var v uint64
		for i := read.Type.Size - 1; i >= 0; i-- {
			v = v<<8 | uint64(raw[i])
		}
		return strconv.FormatUint(v, 10)
	case CString:
		text := c.memory(binary.LittleEndian.Uint64(raw), 64)
		if end := bytes.IndexByte(text, 0); end >= 0 {
			text = text[:end]
		}
		return string(text)
	case GoString:
		return string(c.memory(binary.LittleEndian.Uint64(raw), int(binary.LittleEndian.Uint64(raw[8:]))))
	}
	c.t.Fatalf("%s: cannot read a %v", read.Path, read.Type.Kind)
	return ""
}

// stopAtEntry runs the workload under ptrace until one of its threads reaches the function's
// first instruction, and calls check with that thread stopped there.
func stopAtEntry(t *testing.T, workload, symbol string, check func(*stoppedCall)) {
	t.Helper()
	runtime.LockOSThread() // ptrace requests must come from the tracing thread
	defer runtime.UnlockOSThread()
	cmd := exec.Command(workload)
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("ptrace is not permitted here (seccomp or Yama): %v", err)
		}
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		// The tracer reaps every traced thread, then the process, before the kill completes.
		syscall.Kill(pid, syscall.SIGKILL)
		for {
			var status syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &status, syscall.WALL, nil); err != nil {
				break
			}
		}
		cmd.Process.Release()
	}()
	var status syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &status, syscall.WALL, nil); err != nil || !status.Stopped() {
		t.Fatalf("workload did not stop at exec: %v %v", err, status)
	}
	const exitKill = 0x100000 // PTRACE_O_EXITKILL
	if err := syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACECLONE|exitKill); err != nil {
		t.Fatal(err)
	}
	address := runtimeAddress(t, workload, pid, symbol)
	word := make([]byte, 8)
	if _, err := syscall.PtracePeekData(pid, uintptr(address), word); err != nil {
		t.Fatal(err)
	}
	word[0] = 0xcc // int3
	if _, err := syscall.PtracePokeData(pid, uintptr(address), word); err != nil {
		t.Fatal(err)
	}
	if err := syscall.PtraceCont(pid, 0); err != nil {
		t.Fatal(err)
	}
	for {
		tid, err := syscall.Wait4(-1, &status, syscall.WALL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if status.Exited() || status.Signaled() {
			if tid == pid {
				t.Fatalf("%s exited before calling %s: %v", workload, symbol, status)
			}
			continue
		}
		signal := status.StopSignal()
		if signal == syscall.SIGTRAP && status.TrapCause() == 0 {
			call := &stoppedCall{t: t, tid: tid}
			if err := syscall.PtraceGetRegs(tid, &call.regs); err != nil {
				t.Fatal(err)
			}
			if call.regs.Rip == address+1 {
				check(call)
				return
			}
		}
		if signal == syscall.SIGTRAP || signal == syscall.SIGSTOP {
			signal = 0 // ptrace's own stops: a new thread, a clone event
		}
		if err := syscall.PtraceCont(tid, int(signal)); err != nil {
			t.Fatal(err)
		}
	}
}

// runtimeAddress is where symbol's code is in the running process: its address in the file,
// moved by the load base of a position-independent executable.
func runtimeAddress(t *testing.T, workload string, pid int, symbol string) uint64 {
	t.Helper()
	file, err := elf.Open(workload)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	address := functionAddress(t, file, symbol)
	if file.Type != elf.ET_DYN {
		return address
	}
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	path, _ := filepath.EvalSymlinks(workload)
	scanner := bufio.NewScanner(maps)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 6 && fields[5] == path && fields[2] == "00000000" {
			start, _ := strconv.ParseUint(strings.Split(fields[0], "-")[0], 16, 64)
			return start + address
		}
	}
	t.Fatalf("%s is not mapped in process %d", path, pid)
	return 0
}

// passed are the arguments the workloads pass when run without arguments (argc 1), by function
// and expression; "ARGV0" stands for the workload's path.
var passed = map[string]map[string]string{
	"handle": {"n": "1", "tag": "ARGV0", "size": "3", "req->id": "1", "req->name": "ARGV0", "req->hdr.len": "1", "req->hdr.kind": "3",
		"req->next->name": "second", "req->next->id": "7", "req->flags": "1", "req->next->hdr.len": "2"},
	"many":         {"a": "1", "b": "0", "c": "5", "f": "7", "g": "8", "h": "1", "i": "1", "j": "ARGV0"},
	"make_big":     {"a": "1", "b": "2"},
	"spill":        {"x": "1", "y": "3"},
	"wide":         {"a": "1", "after": "4"},
	"large_struct": {"after": "1"},
	"mixed":        {"l1": "1", "l2": "2", "l3": "3", "l4": "4", "l5": "5", "l6": "6", "l7": "7", "last": "1"},
	"small":        {"u16": "1", "s8": "-1", "ok": "0", "c": "0", "u64": "1099511627776"},

	"_ZN4shop4Cart5totalEiPKcPNS_4ItemE":           {"count": "1", "label": "ARGV0", "item->id": "1", "item->name": "ARGV0", "this->items": "0"},
	"_ZN4shop4Cart6totalsEi":                       {"count": "1", "this->items": "1"},
	"_ZN4shop4makeEli":                             {"value": "1", "extra": "2"},
	"_ZN4shop5plainENS_5PlainEi":                   {"after": "1"},
	"_ZN4shop4takeENS_7TrackedEi":                  {"after": "1"},
	"_ZN4shop13spill_trackedEllllllNS_7TrackedEll": {"a": "1", "f": "6", "i": "7", "j": "8"},
	"_ZN4shop6lookupEiPKc":                         {"key": "1", "name": "ARGV0"},
	"_ZN4shop5referERKNS_4ItemERli":                {"after": "1"},

	"main.handle": {"n": "1", "ok": "1", "name": "ARGV0", "req.id": "1", "req.name": "ARGV0", "req.hdr.len": "1", "req->next->name": "second", "req.next.id": "2"},
	"main.spill": {"a1": "1", "a2": "2", "a3": "3", "a4": "4", "a5": "5", "a6": "6", "a7": "7", "a8": "8", "a9": "9",
		"a10": "10", "a11": "11", "a12": "12", "a13": "13", "a14": "14", "a15": "15", "s": "ARGV0", "t": "17"},
	"main.(*request).describe":            {"r.id": "1", "prefix": "ARGV0", "depth": "1", "flag": "0", "u": "1"},
	"main.mixed":                          {"n": "1", "s": "ARGV0", "last": "1"},
	"main.kinds":                          {"n": "1"},
	"main.ignore":                         {"unused": "ARGV0", "n": "1"},
	"main.pick[go.shape.int]":             {"x": "1", "n": "1"},
	"main.pick[go.shape.string]":          {"x": "ARGV0", "n": "1"},
	"main.(*stack[go.shape.string]).push": {"v": "ARGV0", "n": "1"},
	"main.wrap[go.shape.int].func1":       {"a": "1", "s": "ARGV0"},
}

func checkPassed(t *testing.T, workload string, symbols []string) {
	for _, symbol := range symbols {
		function, err := Lookup(workload, symbol)
		if err != nil {
			t.Fatal(err)
		}
		stopAtEntry(t, workload, symbol, func(call *stoppedCall) {
			for expr, want := range passed[symbol] {
				read, err := function.Resolve(splitPath(expr))
				if err != nil {
					t.Errorf("%s: %v", symbol, err)
					continue
				}
				want = strings.ReplaceAll(want, "ARGV0", workload)
				if got := call.value(read); got != want {
					t.Errorf("%s(%s) read %q; the workload passed %q", symbol, expr, got, want)
				}
			}
		})
	}
}

func TestReadsAtEntryOfRunningC(t *testing.T) {
	for _, optimization := range []string{"-O0", "-O2"} {
		t.Run(optimization, func(t *testing.T) {
			checkPassed(t, buildC(t, "gcc", "workload.c", optimization), []string{"handle", "many", "make_big", "spill", "wide", "large_struct", "mixed", "small"})
		})
	}
}

func TestReadsAtEntryOfRunningCxx(t *testing.T) {
	var symbols []string
	for symbol := range passed {
		if strings.HasPrefix(symbol, "_Z") {
			symbols = append(symbols, symbol)
		}
	}
	for _, optimization := range []string{"-O0", "-O2"} {
		t.Run(optimization, func(t *testing.T) {
			checkPassed(t, buildC(t, "g++", "workload.cc", optimization), symbols)
		})
	}
}

func TestReadsAtEntryOfRunningGo(t *testing.T) {
	var symbols []string
	for symbol := range passed {
		if strings.HasPrefix(symbol, "main.") {
			symbols = append(symbols, symbol)
		}
	}
	checkPassed(t, buildGo(t, "amd64"), symbols)
}
