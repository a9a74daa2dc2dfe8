package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kretspan/kretspan/internal/otlpreceiver"
	"github.com/kretspan/kretspan/internal/testprocess"
)

// Argument tests: the driver workload makes calls whose arguments it knows (the paths it is told,
// its own read buffer's size, describe's parameters); the spans must carry exactly those.

// knownFile makes a file at a path only this test knows, for reads whose file.path is checked.
func knownFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kretspan-args-known")
	if err := os.WriteFile(path, []byte("known contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return resolved
}

// spanNamed returns the spans of a function.
func spansNamed(spans []otlpreceiver.Span, name string) []otlpreceiver.Span {
	var out []otlpreceiver.Span
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func TestKernelSyscallArguments(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver, k := traceProcess(t, dir, d.PID, "--args", "syscall:openat", "syscall:read")
	missing := "/nonexistent/kretspan-args-missing"
	if got := d.Do(t, "open "+missing); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	file := knownFile(t)
	if got := d.Do(t, "read "+file); got != "read 15" {
		t.Fatalf("driver: %s", got)
	}
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool {
		return len(spansNamed(s, "openat")) >= 2 && len(spansNamed(s, "read")) >= 1
	})
	k.Stop(t)
	opens := spansNamed(spans, "openat")
	if len(opens) != 2 {
		t.Fatalf("got %d openat spans, want the driver's 2", len(opens))
	}
	failed, opened := opens[0], opens[1]
	// The driver opens with open(path, O_RDONLY), which glibc makes openat(AT_FDCWD, path, O_RDONLY).
	for _, c := range []struct {
		span      otlpreceiver.Span
		key       string
		want      any
		mustEqual bool
	}{
		{failed, "kretspan.arg.filename", missing, true},
		{failed, "kretspan.arg.dfd", int64(unix.AT_FDCWD), true},
		{failed, "kretspan.arg.flags", int64(unix.O_RDONLY), true},
		{failed, "kretspan.return_value", int64(-2), true},
		{opened, "kretspan.arg.filename", file, true},
	} {
		if got := c.span.Attr(c.key); got != c.want {
			t.Errorf("openat %s = %#v, want %#v", c.key, got, c.want)
		}
	}
	fd, _ := opened.Attr("kretspan.return_value").(int64)
	// The driver reads its commands from stdin, a pipe, and the file from the descriptor openat gave.
	var r, command otlpreceiver.Span
	for _, s := range spansNamed(spans, "read") {
		switch s.Attr("kretspan.arg.fd") {
		case fd:
			r = s
		case int64(0):
			command = s
		}
	}
	if r.Span == nil || command.Span == nil {
		t.Fatalf("no read of fd %d and of stdin among %d read spans", fd, len(spansNamed(spans, "read")))
	}
	if path, _ := command.Attr("file.path").(string); !strings.HasPrefix(path, "pipe:[") {
		t.Errorf("read of stdin, a pipe: file.path %q, want pipe:[INODE] as /proc shows it", path)
	}
	if r.Attr("kretspan.arg.fd") != fd || r.Attr("kretspan.arg.count") != int64(4096) || r.Attr("file.path") != file || r.Attr("kretspan.return_value") != int64(15) {
		t.Errorf("read fd %v count %v file.path %v ret %v; want %d 4096 (the driver's buffer) %s 15",
			r.Attr("kretspan.arg.fd"), r.Attr("kretspan.arg.count"), r.Attr("file.path"), r.Attr("kretspan.return_value"), fd, file)
	}
	if v := r.Attr("kretspan.arg.buf"); v != nil {
		t.Errorf("read's output buffer exported as %v; pointers are never exported", v)
	}
}

func TestKernelSelectedArgumentsTruncatedAtTheStringLimit(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver, k := traceProcess(t, dir, d.PID, "--arg-string-max", "16", "syscall:openat(path=filename)")
	long := "/nonexistent/" + strings.Repeat("x", 40)
	if got := d.Do(t, "open "+long); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	exact := "/nonexistent/abc" // exactly 16 bytes: whole, not truncated
	if got := d.Do(t, "open "+exact); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2 })
	k.Stop(t)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want the driver's 2 openat", len(spans))
	}
	cut, whole := spans[0], spans[1]
	if cut.Attr("kretspan.arg.path") != long[:16] || cut.Attr("kretspan.arg.path.truncated") != true {
		t.Errorf("long path: %v truncated %v; want %q true", cut.Attr("kretspan.arg.path"), cut.Attr("kretspan.arg.path.truncated"), long[:16])
	}
	if whole.Attr("kretspan.arg.path") != exact || whole.Attr("kretspan.arg.path.truncated") != nil {
		t.Errorf("16-byte path: %v truncated %v; want %q and no mark", whole.Attr("kretspan.arg.path"), whole.Attr("kretspan.arg.path.truncated"), exact)
	}
	for _, key := range []string{"kretspan.arg.flags", "kretspan.arg.filename", "kretspan.arg.dfd"} {
		if v := cut.Attr(key); v != nil {
			t.Errorf("%s = %v on a probe that selected only filename", key, v)
		}
	}
}

func TestKernelUserFunctionArguments(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	g := testprocess.StartWorkload(t, filepath.Join(dir, "goargs"))
	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--batch-timeout", "50ms", "--args",
		"uprobe:"+filepath.Join(dir, "driver")+":describe", "uprobe:"+filepath.Join(dir, "goargs")+":main.handle(n, label=tag)")
	if got := d.Do(t, "describe -7 kretspan"); got != fmt.Sprint("described ", -7*1000+8+'k') {
		t.Fatalf("driver: %s", got)
	}
	if got := g.Do(t, "42 gopher"); got != "handled 42006" {
		t.Fatalf("goargs: %s", got)
	}
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 2 })
	k.Stop(t)
	c, goSpans := spansNamed(spans, "describe"), spansNamed(spans, "main.handle")
	if len(c) != 1 || len(goSpans) != 1 {
		t.Fatalf("got %d describe and %d main.handle spans, want 1 and 1", len(c), len(goSpans))
	}
	if c[0].Attr("kretspan.arg.n") != int64(-7) || c[0].Attr("kretspan.arg.tag") != "kretspan" || c[0].Attr("kretspan.arg.size") != int64(8) {
		t.Errorf("describe n %v tag %v size %v; want -7 kretspan 8", c[0].Attr("kretspan.arg.n"), c[0].Attr("kretspan.arg.tag"), c[0].Attr("kretspan.arg.size"))
	}
	if goSpans[0].Attr("kretspan.arg.n") != int64(42) || goSpans[0].Attr("kretspan.arg.label") != "gopher" {
		t.Errorf("main.handle n %v label %v; want 42 gopher", goSpans[0].Attr("kretspan.arg.n"), goSpans[0].Attr("kretspan.arg.label"))
	}
}

func TestKernelBadArgumentNamesExit2(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"syscall:openat(fle)"}, "openat has no argument 'fle'; it has dfd, filename, flags, mode"},
		{[]string{"syscall:read(buf)"}, "argument 'buf' is a pointer (char *), which kretspan does not export"},
		{[]string{"syscall:openat(filename->x)"}, "argument 'filename' (const char *) has no fields"},
		{[]string{"syscall:openat()"}, "empty argument list"},
		{[]string{"--arg-string-max", "2000", "syscall:openat"}, "want 1 to 1024 bytes"},
		{[]string{"uprobe:" + filepath.Join(dir, "driver") + ":describe(tg)"}, "describe has no argument 'tg'; it has n, tag, size"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"--exporter", "none"}, tc.args...), &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 2 and one line with %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestKernelKernelFunctionArguments(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	for _, tc := range []struct{ prefix, feature string }{
		{"kprobe:", "kprobes"},
		{"fentry:", "fentry/fexit"},
	} {
		t.Run(tc.prefix+"vfs_read", func(t *testing.T) {
			requireMechanism(t, dir, tc.feature)
			file := knownFile(t)
			d := startDriver(t, dir)
			receiver, k := traceProcess(t, dir, d.PID, "--args", tc.prefix+"vfs_read", tc.prefix+"do_sys_openat2")
			if got := d.Do(t, "read "+file); got != "read 15" {
				t.Fatalf("driver: %s", got)
			}
			isRead := func(s otlpreceiver.Span) bool { return s.Attr("kretspan.return_value") == int64(15) }
			spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool {
				for _, r := range spansNamed(s, "vfs_read") {
					if isRead(r) {
						return len(spansNamed(s, "do_sys_openat2")) >= 1
					}
				}
				return false
			})
			k.Stop(t)
			var opened bool
			for _, o := range spansNamed(spans, "do_sys_openat2") {
				opened = opened || o.Attr("kretspan.arg.filename") == file && o.Attr("kretspan.arg.dfd") == int64(unix.AT_FDCWD)
			}
			if !opened {
				t.Errorf("no do_sys_openat2 span with filename %s and dfd AT_FDCWD among %d", file, len(spansNamed(spans, "do_sys_openat2")))
			}
			var read bool
			for _, r := range spansNamed(spans, "vfs_read") {
				if isRead(r) {
					read = true
					if r.Attr("kretspan.arg.count") != int64(4096) || r.Attr("file.path") != file || r.Attr("kretspan.arg.file") != nil {
						t.Errorf("vfs_read count %v file.path %v; want 4096 (the driver's buffer) and %s, and no address", r.Attr("kretspan.arg.count"), r.Attr("file.path"), file)
					}
				}
			}
			if !read {
				t.Errorf("no vfs_read span of the driver's 15-byte read")
			}
		})
		t.Run(tc.prefix+"vfs_read field path", func(t *testing.T) {
			requireMechanism(t, dir, tc.feature)
			file := knownFile(t)
			d := startDriver(t, dir)
			receiver, k := traceProcess(t, dir, d.PID, tc.prefix+"vfs_read(name=file->f_path.dentry->d_name.name, count)")
			if got := d.Do(t, "read "+file); got != "read 15" {
				t.Fatalf("driver: %s", got)
			}
			spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool {
				for _, r := range s {
					if r.Attr("kretspan.arg.name") == filepath.Base(file) {
						return true
					}
				}
				return false
			})
			k.Stop(t)
			var found bool
			for _, r := range spans {
				if r.Attr("kretspan.arg.name") == filepath.Base(file) {
					found = true
					if r.Attr("kretspan.arg.count") != int64(4096) || r.Attr("kretspan.return_value") != int64(15) {
						t.Errorf("vfs_read of %s: count %v ret %v, want 4096 15", file, r.Attr("kretspan.arg.count"), r.Attr("kretspan.return_value"))
					}
				}
			}
			if !found {
				t.Errorf("no vfs_read span whose file->f_path.dentry->d_name.name is %s among %d", filepath.Base(file), len(spans))
			}
		})
	}
}

// With --sched too, a record carries both tails, the scheduler split first: each span must have
// the arguments the driver passed and a split that adds up to its duration.
func TestKernelArgumentsWithSchedSplit(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	receiver, k := traceProcess(t, dir, d.PID, "--sched", "--args", "syscall:openat")
	missing := "/nonexistent/kretspan-args-and-sched"
	if got := d.Do(t, "open "+missing); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	spans := receiver.WaitFor(10*time.Second, func(s []otlpreceiver.Span) bool { return len(s) >= 1 })
	k.Stop(t)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want the driver's 1 openat", len(spans))
	}
	s := spans[0]
	if s.Attr("kretspan.arg.filename") != missing || s.Attr("kretspan.arg.flags") != int64(unix.O_RDONLY) || s.Attr("kretspan.return_value") != int64(-2) {
		t.Errorf("openat filename %v flags %v ret %v; want %s %d -2", s.Attr("kretspan.arg.filename"), s.Attr("kretspan.arg.flags"), s.Attr("kretspan.return_value"), missing, unix.O_RDONLY)
	}
	split, d0 := spanSplit(t, s), spanDuration(s)
	slack := splitSlack(d0)
	if sum := split.onCPU + split.runqueue + split.blocked; sum < d0-slack || sum > d0+slack {
		t.Errorf("%v on CPU + %v runnable + %v blocked = %v, want the span's %v", split.onCPU, split.runqueue, split.blocked, sum, d0)
	}
}

// The console shows selected arguments as strace does, renamed where asked, and the open flags
// by name.
func TestKernelSelectedArgumentsOnTheConsole(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	d := startDriver(t, dir)
	k := startKretspan(t, dir, "--exporter", "console", "--pid", fmt.Sprint(d.PID), "syscall:openat(path=filename, flags)")
	missing := "/nonexistent/kretspan-args-console"
	if got := d.Do(t, "open "+missing); got != "open -2" {
		t.Fatalf("driver: %s", got)
	}
	time.Sleep(300 * time.Millisecond) // past the reader's poll deadline
	k.Stop(t)
	want := fmt.Sprintf(`openat(path=%q, flags=O_RDONLY) returned -2 (ENOENT) and took `, missing)
	lines := strings.Split(strings.TrimSpace(k.Stdout()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], fmt.Sprintf("(pid %d tid %d comm driver)", d.PID, d.TID)) {
		t.Errorf("console:\n%s\nwant one line starting %q and ending with the driver's pid, tid and comm", k.Stdout(), want)
	}
}
