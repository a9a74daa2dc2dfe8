// Command vmtest runs static Go test binaries inside the Debian kernels pinned
// in vmtest/kernels.lock, each under QEMU, and exits non-zero unless every
// binary reported exit status 0 on every kernel.
//
//	vmtest -tests DIR [-tests ARM64DIR] [-kernels all|5.10,arm64-6.1] [-run LABEL=REGEX] [flags] [-- ARGS for every test binary]
//
// Kernels must have been fetched with vmtest/fetch-kernels.sh first. Each
// kernel runs the binaries of its own architecture: -tests and -files take
// one directory per architecture, recognised by the binaries in it. -run
// gives one kernel its own set of tests (-test.run REGEX), unless ARGS name
// their own.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
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

// listFlag collects a repeatable flag: -env KEY=VALUE, -tests DIR, -files DIR.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// binariesByArch reads each directory's binaries and files them under their architecture.
func binariesByArch(dirs []string) (map[string][]vmtest.TestBinary, error) {
	byArch := map[string][]vmtest.TestBinary{}
	for _, dir := range dirs {
		bins, err := vmtest.FindTestBinaries(dir)
		if err != nil {
			return nil, err
		}
		arch := bins[0].Arch
		if byArch[arch] != nil {
			return nil, fmt.Errorf("%s: a second directory of %s binaries", dir, arch)
		}
		byArch[arch] = bins
	}
	return byArch, nil
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
		archOnly = flag.String("arch", "", "boot only the selected kernels of this architecture (amd64, arm64)")
		timeout  = flag.Duration("timeout", 10*time.Minute, "per-kernel limit for boot, all tests and poweroff")
		parallel = flag.Int("parallel", 1, "kernels to boot at once (each guest uses -smp CPUs of emulation)")
		verbose  = flag.Bool("v", false, "echo guest consoles to stdout, prefixed with [kernel]")
		logDir   = flag.String("logdir", "", "where console logs go (default CACHE/logs)")
		busybox  = flag.String("busybox", "/bin/busybox", "static busybox for guests of this machine's architecture (package busybox-static); other architectures' come from CACHE/busybox/ARCH")
		memoryMB = flag.Int("memory", 1024, "guest memory in MiB")
		cpus     = flag.Int("cpus", 2, "guest CPUs")
		kargs    = flag.String("append", "", "extra kernel command line, e.g. loglevel=7 to see all kernel messages")
		env      listFlag
		testDirs listFlag
		fileDirs listFlag
		runs     = runFlag{}
	)
	flag.Var(&env, "env", "KEY=VALUE for the guest tests (repeatable)")
	flag.Var(&testDirs, "tests", "directory of static test binaries (CGO_ENABLED=0 go test -c -o DIR/ PKGS); one per architecture")
	flag.Var(runs, "run", "LABEL=REGEX: kernel LABEL runs only the tests REGEX matches, unless the test args give -test.run (repeatable, one per kernel)")
	flag.Var(&fileDirs, "files", "directory of static programs the tests run, placed under /files in the guest; one per architecture")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: vmtest -tests DIR [flags] [-- test binary args]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	testArgs := flag.Args()

	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "vmtest: "+format+"\n", a...)
		return 2
	}
	if len(testDirs) == 0 {
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
	if *archOnly != "" {
		if _, ok := vmtest.Arches[*archOnly]; !ok {
			return fail("-arch %q: vmtest boots %s", *archOnly, strings.Join(slices.Sorted(maps.Keys(vmtest.Arches)), ", "))
		}
		selected = slices.DeleteFunc(selected, func(k vmtest.Kernel) bool { return k.Arch() != *archOnly })
		if len(selected) == 0 {
			return fail("-kernels %s selects no %s kernel", *kernels, *archOnly)
		}
	}
	tests, err := binariesByArch(testDirs)
	if err != nil {
		return fail("-tests: %v", err)
	}
	files, err := binariesByArch(fileDirs)
	if err != nil {
		return fail("-files: %v", err)
	}
	images := map[string]string{}
	qemus := map[string]string{}
	busyboxes := map[string]string{runtime.GOARCH: *busybox}
	for _, k := range selected {
		if images[k.Label], err = vmtest.KernelImage(*cacheDir, k); err != nil {
			return fail("%v", err)
		}
		arch := k.Arch()
		if tests[arch] == nil {
			return fail("kernel %s is %s, and no -tests directory holds %s binaries (GOARCH=%s CGO_ENABLED=0 go test -c)", k.Label, arch, arch, arch)
		}
		if len(fileDirs) > 0 && files[arch] == nil {
			return fail("kernel %s is %s, and no -files directory holds %s programs", k.Label, arch, arch)
		}
		machine := vmtest.Arches[arch]
		if qemus[arch], err = exec.LookPath(machine.QEMU); err != nil {
			return fail("%s not found; install the Debian package %s", machine.QEMU, machine.QEMUPackage)
		}
		if busyboxes[arch] == "" {
			busyboxes[arch] = filepath.Join(*cacheDir, "busybox", arch, "busybox")
		}
		if _, err := os.Stat(busyboxes[arch]); err != nil {
			return fail("busybox for %s: %v; install busybox-static, or for another architecture run vmtest/fetch-kernels.sh", arch, err)
		}
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
	fmt.Printf("vmtest: %d kernels, timeout %v each, %d at a time\n", len(selected), *timeout, *parallel)
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
			arch := k.Arch()
			run := vmtest.GuestRun{Kernel: k, Tests: tests[arch], Files: files[arch], Args: runs.kernelArgs(k.Label, testArgs), Env: env}
			if err := vmtest.BuildInitramfs(initramfs, busyboxes[arch], run); err != nil {
				results[i] = vmtest.BootResult{Kernel: k, Err: fmt.Errorf("building initramfs: %v", err)}
				return
			}
			results[i] = vmtest.Boot(ctx, vmtest.BootConfig{
				Kernel:      k,
				KernelImage: images[k.Label],
				Initramfs:   initramfs,
				Tests:       names(tests[arch]),
				Timeout:     *timeout,
				KernelArgs:  *kargs,
				LogPath:     filepath.Join(*logDir, k.Label+".log"),
				Echo:        echo,
				QEMU:        qemus[arch],
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
