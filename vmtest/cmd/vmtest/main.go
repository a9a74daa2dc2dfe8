// Command vmtest runs static Go test binaries inside the Debian kernels pinned
// in vmtest/kernels.lock, each under QEMU, and exits non-zero unless every
// binary reported exit status 0 on every kernel.
//
//	vmtest -tests DIR [-files DIR] [-kernels all|5.10,arm64-6.1] [-run LABEL=REGEX] [flags] [-- ARGS for every test binary]
//
// Kernels must have been fetched with vmtest/fetch-kernels.sh first. A run is
// of one architecture, the one the test binaries in -tests were built for
// (their ELF headers say which): it boots the kernels -kernels selects of that
// architecture, and the -files programs must be built for it too. -run gives
// one kernel its own set of tests (-test.run REGEX), unless ARGS name their
// own.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kretspan/kretspan/vmtest"
)

// listFlag collects a repeatable flag: -env KEY=VALUE.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// dirFlag is -tests DIR or -files DIR, which a run takes once: its binaries are of one
// architecture, and another architecture's go to another run.
type dirFlag string

func (d *dirFlag) String() string { return string(*d) }
func (d *dirFlag) Set(v string) error {
	if *d != "" {
		return fmt.Errorf("a second directory (after %s): a run takes one, of one architecture; run vmtest once for each", *d)
	}
	*d = dirFlag(v)
	return nil
}

// binaries reads the test binaries in testDir and the programs in fileDir (none if fileDir is
// ""), and checks the programs are of the tests' architecture, the run's.
func binaries(testDir, fileDir string) (tests, files []vmtest.TestBinary, err error) {
	if tests, err = vmtest.FindTestBinaries(testDir); err != nil {
		return nil, nil, fmt.Errorf("-tests: %v", err)
	}
	if fileDir == "" {
		return tests, nil, nil
	}
	if files, err = vmtest.FindTestBinaries(fileDir); err != nil {
		return nil, nil, fmt.Errorf("-files: %v", err)
	}
	if arch := tests[0].Arch; files[0].Arch != arch {
		return nil, nil, fmt.Errorf("-files %s holds %s programs, and the test binaries in -tests %s are %s: build the programs for %s too", fileDir, files[0].Arch, testDir, arch, arch)
	}
	return tests, files, nil
}

// kernelsOf keeps the selected kernels of arch, the ones the run's binaries run on; it fails if
// -kernels (labels) selected none.
func kernelsOf(selected []vmtest.Kernel, arch, labels string) ([]vmtest.Kernel, error) {
	selected = slices.DeleteFunc(slices.Clone(selected), func(k vmtest.Kernel) bool { return k.Arch() != arch })
	if len(selected) == 0 {
		return nil, fmt.Errorf("-kernels %s selects no kernel of the test binaries' architecture, %s (to boot another, build the binaries with GOARCH=ARCH)", labels, arch)
	}
	return selected, nil
}

// runFlag collects -run LABEL=REGEX: the tests each named kernel runs.
type runFlag map[string]string

func (r runFlag) String() string { return fmt.Sprint(map[string]string(r)) }
func (r runFlag) Set(v string) error {
	label, regex, ok := strings.Cut(v, "=")
	if !ok || label == "" || regex == "" {
		return fmt.Errorf("%q is not LABEL=REGEX", v)
	}
	if _, dup := r[label]; dup {
		return fmt.Errorf("a second -run for kernel %s", label)
	}
	r[label] = regex
	return nil
}

// kernelArgs are the test binaries' arguments on kernel label: its -run regex first, so that a
// -test.run in args, the later one, wins.
func (r runFlag) kernelArgs(label string, args []string) []string {
	if regex, ok := r[label]; ok {
		return append([]string{"-test.run", regex}, args...)
	}
	return args
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		cacheDir = flag.String("cache", vmtest.DefaultCacheDir(), "cache dir holding fetched kernels (env KRETSPAN_VMTEST_CACHE)")
		lockPath = flag.String("lock", "vmtest/kernels.lock", "kernel pin file")
		kernels  = flag.String("kernels", "all", `comma-separated kernel labels from the lock file, or "all"`)
		timeout  = flag.Duration("timeout", 10*time.Minute, "per-kernel limit for boot, all tests and poweroff")
		parallel = flag.Int("parallel", 1, "kernels to boot at once (each guest uses -smp CPUs of emulation)")
		verbose  = flag.Bool("v", false, "echo guest consoles to stdout, prefixed with [kernel]")
		logDir   = flag.String("logdir", "", "where console logs go (default CACHE/logs)")
		busybox  = flag.String("busybox", "/bin/busybox", "static busybox for guests of this machine's architecture (package busybox-static); other architectures' come from CACHE/busybox/ARCH")
		memoryMB = flag.Int("memory", 1024, "guest memory in MiB")
		cpus     = flag.Int("cpus", 2, "guest CPUs")
		kargs    = flag.String("append", "", "extra kernel command line, e.g. loglevel=7 to see all kernel messages")
		env      listFlag
		testDir  dirFlag
		fileDir  dirFlag
		runs     = runFlag{}
	)
	flag.Var(&env, "env", "KEY=VALUE for the guest tests (repeatable)")
	flag.Var(&testDir, "tests", "directory of static test binaries (CGO_ENABLED=0 go test -c -o DIR/ PKGS), all of one architecture: the run boots the selected kernels of it")
	flag.Var(runs, "run", "LABEL=REGEX: kernel LABEL runs only the tests REGEX matches, unless the test args give -test.run (repeatable, one per kernel)")
	flag.Var(&fileDir, "files", "directory of static programs the tests run, placed under /files in the guest; of the test binaries' architecture")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: vmtest -tests DIR [-files DIR] [flags] [-- test binary args]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	testArgs := flag.Args()

	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "vmtest: "+format+"\n", a...)
		return 2
	}
	if testDir == "" {
		flag.Usage()
		return 2
	}
	pinned, err := vmtest.ReadLock(*lockPath)
	if err != nil {
		return fail("%v", err)
	}
	selected, err := vmtest.SelectKernels(pinned, strings.Split(*kernels, ","))
	if err != nil {
		return fail("%v", err)
	}
	for label := range runs {
		if !slices.ContainsFunc(pinned, func(k vmtest.Kernel) bool { return k.Label == label }) {
			return fail("-run: kernel %q is not pinned in %s", label, *lockPath)
		}
	}
	tests, files, err := binaries(string(testDir), string(fileDir))
	if err != nil {
		return fail("%v", err)
	}
	arch := tests[0].Arch
	if selected, err = kernelsOf(selected, arch, *kernels); err != nil {
		return fail("%v", err)
	}
	images := map[string]string{}
	for _, k := range selected {
		if images[k.Label], err = vmtest.KernelImage(*cacheDir, k); err != nil {
			return fail("%v", err)
		}
	}
	machine := vmtest.Arches[arch]
	qemu, err := exec.LookPath(machine.QEMU)
	if err != nil {
		return fail("%s not found; install the Debian package %s", machine.QEMU, machine.QEMUPackage)
	}
	guestBusybox := *busybox
	if arch != runtime.GOARCH {
		guestBusybox = filepath.Join(*cacheDir, "busybox", arch, "busybox")
	}
	if _, err := os.Stat(guestBusybox); err != nil {
		return fail("busybox for %s: %v; install busybox-static, or for another architecture run vmtest/fetch-kernels.sh", arch, err)
	}
	if *logDir == "" {
		*logDir = filepath.Join(*cacheDir, "logs")
	}
	workDir := filepath.Join(*cacheDir, "work")
	for _, d := range []string{*logDir, workDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail("%v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var echo io.Writer
	if *verbose {
		echo = stdout
	}
	fmt.Printf("vmtest: %d %s kernels, timeout %v each, %d at a time\n", len(selected), arch, *timeout, *parallel)
	start := time.Now()
	results := make([]vmtest.BootResult, len(selected))
	sem := make(chan struct{}, max(*parallel, 1))
	var wg sync.WaitGroup
	for i, k := range selected {
		sem <- struct{}{} // taken here so kernels start in lock order
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// One initramfs per kernel: /init carries the kernel's label and
			// expected release for the tests.
			initramfs := filepath.Join(workDir, "initramfs-"+k.Label+".cpio")
			run := vmtest.GuestRun{Kernel: k, Tests: tests, Files: files, Args: runs.kernelArgs(k.Label, testArgs), Env: env}
			if err := vmtest.BuildInitramfs(initramfs, guestBusybox, run); err != nil {
				results[i] = vmtest.BootResult{Kernel: k, Err: fmt.Errorf("building initramfs: %v", err)}
				return
			}
			results[i] = vmtest.Boot(ctx, vmtest.BootConfig{
				Kernel:      k,
				KernelImage: images[k.Label],
				Initramfs:   initramfs,
				Tests:       names(tests),
				Timeout:     *timeout,
				KernelArgs:  *kargs,
				LogPath:     filepath.Join(*logDir, k.Label+".log"),
				Echo:        echo,
				QEMU:        qemu,
				MemoryMB:    *memoryMB,
				CPUs:        *cpus,
			})
			printResult(results[i])
		}()
	}
	wg.Wait()

	failed := 0
	for _, r := range results {
		if len(r.Problems()) > 0 {
			failed++
		}
	}
	fmt.Printf("vmtest: %d/%d kernels passed in %.1fs\n", len(results)-failed, len(results), time.Since(start).Seconds())
	if failed > 0 {
		return 1
	}
	return 0
}

func names(bins []vmtest.TestBinary) []string {
	out := make([]string, len(bins))
	for i, b := range bins {
		out[i] = b.Name
	}
	return out
}

// printResult prints one kernel's outcome as soon as it is known.
func printResult(r vmtest.BootResult) {
	verdict := "PASS"
	problems := r.Problems()
	if len(problems) > 0 {
		verdict = "FAIL"
	}
	var tests []string
	for _, t := range r.Tests {
		status := "missing"
		if t.Code >= 0 {
			status = fmt.Sprintf("exit %d in %.1fs", t.Code, t.Duration.Seconds())
		}
		tests = append(tests, t.Name+": "+status)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "vmtest: %-10s %s %6.1fs  %s  (log %s)\n", r.Kernel.Label, verdict, r.Duration.Seconds(), strings.Join(tests, ", "), r.LogPath)
	for _, p := range problems {
		fmt.Fprintf(&b, "vmtest: %-10s   - %s\n", r.Kernel.Label, p)
	}
	io.WriteString(stdout, b.String())
}

// stdout is shared by the parallel guests' echo and result lines.
var stdout = &lockedWriter{w: os.Stdout}

// lockedWriter keeps lines from parallel guests whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
