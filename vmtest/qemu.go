package vmtest

import (
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BootConfig describes one guest boot.
type BootConfig struct {
	Kernel      Kernel
	KernelImage string   // vmlinuz
	Initramfs   string   // built by BuildInitramfs
	Tests       []string // names whose EXIT lines must appear
	Timeout     time.Duration
	KernelArgs  string    // appended to the kernel command line
	LogPath     string    // full console log
	Echo        io.Writer // if non-nil, console lines go here with a "[label] " prefix
	QEMU        string    // the kernel's Arch().QEMU binary
	MemoryMB    int
	CPUs        int
}

// TestStatus is what the guest reported for one binary.
type TestStatus struct {
	Name     string
	Code     int // -1 when no EXIT line was seen
	Duration time.Duration
}

// BootResult is what one boot produced.
type BootResult struct {
	Kernel   Kernel
	Release  string // from the BOOTED line; empty if the guest never got there
	Tests    []TestStatus
	Done     bool // DONE line seen: /init ran to the end
	TimedOut bool
	// KernelErrors holds the first kernel BUG/WARNING/Oops/panic lines: a
	// kernel complaint during the tests is a failure even if they pass.
	KernelErrors []string
	Duration     time.Duration
	Err          error // harness-side failure (qemu missing, log not writable, ...)
	LogPath      string
}

// Problems lists why the boot does not count as a pass; empty means passed.
func (r BootResult) Problems() []string {
	var p []string
	if r.Err != nil {
		p = append(p, r.Err.Error())
	}
	if r.TimedOut {
		p = append(p, "timed out (guest killed)")
	}
	for _, e := range r.KernelErrors {
		p = append(p, "kernel: "+e)
	}
	if r.Err == nil && r.Release == "" {
		p = append(p, "guest never reached /init")
	} else if r.Release != "" && r.Release != r.Kernel.Release() {
		p = append(p, fmt.Sprintf("booted %s, expected %s", r.Release, r.Kernel.Release()))
	}
	for _, t := range r.Tests {
		switch {
		case t.Code < 0:
			p = append(p, t.Name+": no exit status")
		case t.Code != 0:
			p = append(p, fmt.Sprintf("%s: exit %d", t.Name, t.Code))
		}
	}
	if !r.Done && !r.TimedOut && r.Err == nil {
		p = append(p, "/init did not finish")
	}
	return p
}

// Arch is what booting a guest of one architecture takes.
type Arch struct {
	QEMU        string      // the system emulator
	QEMUPackage string      // the Debian package that has it
	Machine     []string    // QEMU's machine options
	Console     string      // the serial console the guest writes to
	ELF         elf.Machine // of the test binaries and busybox
}

// Arches are the architectures vmtest boots, by Debian (and Go) name. arm64
// uses QEMU's generic "virt" board; its PL011 UART is ttyAMA0.
var Arches = map[string]Arch{
	"amd64": {QEMU: "qemu-system-x86_64", QEMUPackage: "qemu-system-x86", Console: "ttyS0", ELF: elf.EM_X86_64},
	"arm64": {QEMU: "qemu-system-aarch64", QEMUPackage: "qemu-system-arm", Machine: []string{"-M", "virt"}, Console: "ttyAMA0", ELF: elf.EM_AARCH64},
}

// kernelCommandLine: panic=-1 reboots at once on a panic, which -no-reboot
// turns into QEMU exiting; softlockup_panic=1 turns a locked-up guest into
// such a panic (with a backtrace in the log) instead of a wait for the timeout.
func kernelCommandLine(arch Arch) string {
	return "console=" + arch.Console + " quiet panic=-1 softlockup_panic=1"
}

// QEMUArgs is the command line for one boot. TCG, not KVM: KVM fails on the
// hosts we run on, and TCG behaves the same everywhere. Single-threaded TCG:
// with a host thread per vCPU, the kernel's live code patching (the int3-based
// text_poke that attaching a tracepoint or kprobe triggers) races QEMU's
// translation cache, and the guest oopses or locks up on a stale int3 in code
// just patched (seen in syscall_trace_enter on 5.10 and 6.12).
func QEMUArgs(c BootConfig) []string {
	arch := Arches[c.Kernel.Arch()]
	return append(slices.Clone(arch.Machine),
		"-accel", "tcg,thread=single", "-cpu", "max",
		"-m", strconv.Itoa(c.MemoryMB), "-smp", strconv.Itoa(c.CPUs),
		"-kernel", c.KernelImage, "-initrd", c.Initramfs,
		"-append", strings.TrimSpace(kernelCommandLine(arch)+" "+c.KernelArgs),
		"-nographic", "-no-reboot", "-nic", "none",
	)
}

// Boot runs one guest to completion or timeout and parses its console.
func Boot(ctx context.Context, c BootConfig) (res BootResult) {
	start := time.Now()
	res = BootResult{Kernel: c.Kernel, LogPath: c.LogPath}
	for _, name := range c.Tests {
		res.Tests = append(res.Tests, TestStatus{Name: name, Code: -1})
	}
	defer func() { res.Duration = time.Since(start) }()

	logFile, err := os.Create(c.LogPath)
	if err != nil {
		res.Err = err
		return res
	}
	defer logFile.Close()

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.QEMU, QEMUArgs(c)...)
	cmd.Stdin = nil // /dev/null: keeps -nographic's monitor mux off our terminal
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.WaitDelay = 5 * time.Second

	fmt.Fprintf(logFile, "# %s %s\n", c.QEMU, strings.Join(QEMUArgs(c), " "))
	if err := cmd.Start(); err != nil {
		res.Err = fmt.Errorf("starting qemu: %v", err)
		return res
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		readConsole(pr, logFile, c.Echo, c.Kernel.Label, &res)
	}()
	waitErr := cmd.Wait()
	pw.Close()
	wg.Wait()

	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.TimedOut = true
		fmt.Fprintf(logFile, "# vmtest: timed out after %v, guest killed\n", c.Timeout)
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("interrupted: %v", ctx.Err())
	case waitErr != nil: // QEMU exits 0 on guest poweroff and on -no-reboot resets
		res.Err = fmt.Errorf("qemu: %v", waitErr)
	}
	return res
}

// terminalControl matches the screen-clearing escapes SeaBIOS prints; they
// are kept in the log but would garble a prefixed echo.
var terminalControl = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

// kernelError matches printk lines (timestamped, which Debian kernels are)
// reporting a kernel bug, so test output mentioning the words is ignored.
var kernelError = regexp.MustCompile(`^\[\s*\d+\.\d+\] .*(Kernel panic|Oops:|BUG:|WARNING:)`)

const maxKernelErrors = 3

// readConsole copies console lines to the log (and echo) and records the
// protocol lines in res.
func readConsole(r io.Reader, log io.Writer, echo io.Writer, label string, res *BootResult) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var testStart time.Time
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintf(log, "%s\n", line)
		if echo != nil {
			fmt.Fprintf(echo, "[%s] %s\n", label, terminalControl.ReplaceAllString(line, ""))
		}
		ev, ok := ParseConsoleLine(line)
		if !ok {
			if kernelError.MatchString(line) && len(res.KernelErrors) < maxKernelErrors {
				res.KernelErrors = append(res.KernelErrors, strings.TrimSpace(line))
			}
			continue
		}
		switch ev.Marker {
		case markerBooted:
			res.Release = ev.Name
		case markerStart:
			testStart = time.Now()
		case markerExit:
			for i := range res.Tests {
				if res.Tests[i].Name == ev.Name {
					res.Tests[i].Code = ev.Code
					res.Tests[i].Duration = time.Since(testStart)
				}
			}
		case markerDone:
			res.Done = true
		}
	}
	// Drain whatever is left if the scanner gave up (e.g. an over-long line),
	// so qemu never blocks on a full pipe.
	_, _ = io.Copy(log, r)
}

// ConsoleEvent is one parsed protocol line.
type ConsoleEvent struct {
	Marker string
	Name   string // test name, or the release for BOOTED
	Code   int
}

// ParseConsoleLine recognises the protocol lines /init prints. The marker
// must start the line, so a test merely mentioning it does not count.
func ParseConsoleLine(line string) (ConsoleEvent, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || !strings.HasPrefix(line, f[0]) {
		return ConsoleEvent{}, false
	}
	switch {
	case f[0] == markerDone && len(f) == 1:
		return ConsoleEvent{Marker: markerDone}, true
	case (f[0] == markerBooted || f[0] == markerStart) && len(f) == 2:
		return ConsoleEvent{Marker: f[0], Name: f[1]}, true
	case f[0] == markerExit && len(f) == 3:
		code, err := strconv.Atoi(f[2])
		if err != nil || code < 0 {
			return ConsoleEvent{}, false
		}
		return ConsoleEvent{Marker: markerExit, Name: f[1], Code: code}, true
	}
	return ConsoleEvent{}, false
}
