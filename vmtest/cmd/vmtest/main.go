// Command vmtest runs static Go test binaries inside the Debian kernels pinned
// in vmtest/kernels.lock, each under QEMU, and exits non-zero unless every
// binary reported exit status 0 on every kernel.
//
//	vmtest -tests DIR [-kernels all|5.10,6.1] [flags] [-- ARGS for every test binary]
//
// Kernels must have been fetched with vmtest/fetch-kernels.sh first.
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kretspan/kretspan/vmtest"
)

// envFlags collects repeated -env KEY=VALUE flags.
type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, " ") }
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	var (
		cacheDir = flag.String("cache", vmtest.DefaultCacheDir(), "cache dir holding fetched kernels (env KRETSPAN_VMTEST_CACHE)")
		lockPath = flag.String("lock", "vmtest/kernels.lock", "kernel pin file")
		kernels  = flag.String("kernels", "all", `comma-separated kernel labels from the lock file, or "all"`)
		testsDir = flag.String("tests", "", "directory of static test binaries (CGO_ENABLED=0 go test -c -o DIR/ PKGS)")
		filesDir = flag.String("files", "", "directory of static programs the tests run, placed under /files in the guest")
		timeout  = flag.Duration("timeout", 10*time.Minute, "per-kernel limit for boot, all tests and poweroff")
		parallel = flag.Int("parallel", 1, "kernels to boot at once (each guest uses -smp CPUs of emulation)")
		verbose  = flag.Bool("v", false, "echo guest consoles to stdout, prefixed with [kernel]")
		logDir   = flag.String("logdir", "", "where console logs go (default CACHE/logs)")
		busybox  = flag.String("busybox", "/bin/busybox", "static busybox for the guest (package busybox-static)")
		qemu     = flag.String("qemu", "qemu-system-x86_64", "QEMU binary (package qemu-system-x86)")
		memoryMB = flag.Int("memory", 1024, "guest memory in MiB")
		cpus     = flag.Int("cpus", 2, "guest CPUs")
		kargs    = flag.String("append", "", "extra kernel command line, e.g. loglevel=7 to see all kernel messages")
		env      envFlags
	)
	flag.Var(&env, "env", "KEY=VALUE for the guest tests (repeatable)")
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
	if *testsDir == "" {
		flag.Usage()
		return 2
	}
	qemuPath, err := exec.LookPath(*qemu)
	if err != nil {
		return fail("%s not found; install the Debian package qemu-system-x86", *qemu)
	}
	if _, err := os.Stat(*busybox); err != nil {
		return fail("%s not found; install the Debian package busybox-static", *busybox)
	}
	pinned, err := vmtest.ReadLock(*lockPath)
	if err != nil {
		return fail("%v", err)
	}
	selected, err := vmtest.SelectKernels(pinned, strings.Split(*kernels, ","))
	if err != nil {
		return fail("%v", err)
	}
	images := map[string]string{}
	for _, k := range selected {
		if images[k.Label], err = vmtest.KernelImage(*cacheDir, k); err != nil {
			return fail("%v", err)
		}
	}
	tests, err := vmtest.FindTestBinaries(*testsDir)
	if err != nil {
		return fail("%v", err)
	}
	var files []vmtest.TestBinary
	if *filesDir != "" {
		if files, err = vmtest.FindTestBinaries(*filesDir); err != nil {
			return fail("-files: %v", err)
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
	names := make([]string, len(tests))
	for i, t := range tests {
		names[i] = t.Name
	}

	fmt.Printf("vmtest: %d test binaries x %d kernels, timeout %v each, %d at a time\n",
		len(tests), len(selected), *timeout, *parallel)
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
			run := vmtest.GuestRun{Kernel: k, Tests: tests, Files: files, Args: testArgs, Env: env}
			if err := vmtest.BuildInitramfs(initramfs, *busybox, run); err != nil {
				results[i] = vmtest.BootResult{Kernel: k, Err: fmt.Errorf("building initramfs: %v", err)}
				return
			}
			results[i] = vmtest.Boot(ctx, vmtest.BootConfig{
				Kernel:      k,
				KernelImage: images[k.Label],
				Initramfs:   initramfs,
				Tests:       names,
				Timeout:     *timeout,
				KernelArgs:  *kargs,
				LogPath:     filepath.Join(*logDir, k.Label+".log"),
				Echo:        echo,
				QEMU:        qemuPath,
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
	fmt.Fprintf(&b, "vmtest: %-5s %s %6.1fs  %s  (log %s)\n", r.Kernel.Label, verdict, r.Duration.Seconds(), strings.Join(tests, ", "), r.LogPath)
	for _, p := range problems {
		fmt.Fprintf(&b, "vmtest: %-5s   - %s\n", r.Kernel.Label, p)
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
