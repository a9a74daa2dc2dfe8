package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

const windowWidth, windowHeight = 1400, 900

// runChromium runs headless Chromium once with a fresh profile and returns its stdout. It runs in
// its own process group, which is killed (with the renderer and GPU helpers) if it hangs.
func runChromium(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath, append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), fmt.Sprintf("--window-size=%d,%d", windowWidth, windowHeight),
	}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("chromium %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// checkTraceInUI opens the trace's page (/trace/TRACEID) of Jaeger's web UI in headless Chromium,
// checks a screenshot, and checks that the rendered page shows the trace's spans. With the real
// Jaeger UI (KRETSPAN_JAEGER_UI_ASSETS) it looks for the span names; with ../tools/jaeger/viewer it also
// checks the nesting the viewer draws. KRETSPAN_SCREENSHOT=PATH keeps the screenshot.
func checkTraceInUI(t *testing.T, j *jaeger, tr jaegerTrace, realUI bool) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s (the Debian package chromium: apt-get install chromium): %v", chromiumPath, err)
	}
	url := j.queryURL + "/trace/" + tr.TraceID
	t.Logf("opening %s (real Jaeger UI: %v)", url, realUI)

	// The screenshot: virtual time lets the page fetch the trace and render before it is taken.
	shot := filepath.Join(t.TempDir(), "trace.png")
	if _, err := runChromium(t, "--screenshot="+shot, "--virtual-time-budget=10000", url); err != nil {
		t.Fatal(err)
	}
	checkScreenshot(t, shot)
	if keep := os.Getenv("KRETSPAN_SCREENSHOT"); keep != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(keep, data, 0o644)
		}
		if err != nil {
			t.Fatalf("KRETSPAN_SCREENSHOT: %v", err)
		}
		t.Logf("screenshot saved to %s", keep)
	}

	// The DOM after the page's scripts ran. Rendering needs the API answer, so a longer virtual
	// time budget is tried when the spans are not there yet.
	names := []string{"outer", "inner", "clock_nanosleep"}
	var dom string
	for _, budget := range []int{10000, 30000} {
		out, err := runChromium(t, "--dump-dom", "--virtual-time-budget="+strconv.Itoa(budget), url)
		if err != nil {
			t.Fatal(err)
		}
		dom = string(out)
		if containsAll(dom, names) {
			break
		}
	}
	if !containsAll(dom, names) {
		t.Fatalf("the page does not show the spans %v; its DOM:\n%s", names, dom)
	}
	if realUI {
		if !strings.Contains(dom, tr.TraceID[:7]) {
			t.Errorf("the Jaeger UI page does not show the trace ID %s", tr.TraceID)
		}
		return
	}
	checkViewerDOM(t, dom, tr)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// checkScreenshot checks that the file is a PNG of the window's size that is not blank: a page
// with text, bars and anti-aliasing has hundreds of distinct colours, an empty one a handful.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != windowWidth || b.Dy() != windowHeight {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), windowWidth, windowHeight)
	}
	colours, background := countColours(img)
	notBackground := 1 - background
	t.Logf("screenshot: %d distinct colours, %.1f%% of pixels not the background", colours, 100*notBackground)
	if colours < 100 || notBackground < 0.02 {
		t.Errorf("screenshot looks blank: %d distinct colours, %.1f%% of pixels not the background", colours, 100*notBackground)
	}
}

// countColours returns the number of distinct colours and the share of the most common one.
func countColours(img image.Image) (int, float64) {
	counts := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	return len(counts), float64(most) / float64(b.Dx()*b.Dy())
}

var viewerRow = regexp.MustCompile(`data-operation="([^"]+)" data-depth="(\d+)" data-span-id="([0-9a-f]+)" data-parent="([0-9a-f]*)"`)

// checkViewerDOM checks the waterfall ../tools/jaeger/viewer drew: one row per span, nested as in Jaeger.
func checkViewerDOM(t *testing.T, dom string, tr jaegerTrace) {
	t.Helper()
	rows := viewerRow.FindAllStringSubmatch(dom, -1)
	if len(rows) != len(tr.Spans) {
		t.Fatalf("the viewer shows %d span rows, the trace has %d spans; DOM:\n%s", len(rows), len(tr.Spans), dom)
	}
	want := map[string]string{} // span ID → "name depth parent"
	byID := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		byID[s.SpanID] = s
	}
	depth := func(s jaegerSpan) int {
		d := 0
		for len(s.References) > 0 {
			s = byID[s.References[0].SpanID]
			d++
		}
		return d
	}
	for _, s := range tr.Spans {
		parent := ""
		if len(s.References) > 0 {
			parent = s.References[0].SpanID
		}
		want[s.SpanID] = fmt.Sprintf("%s %d %s", s.OperationName, depth(s), parent)
	}
	var order []string
	for _, r := range rows {
		got := fmt.Sprintf("%s %s %s", r[1], r[2], r[4])
		if want[r[3]] != got {
			t.Errorf("viewer row for span %s is %q, want %q", r[3], got, want[r[3]])
		}
		order = append(order, r[1]+"@"+r[2])
	}
	// Children follow their parent, earliest first: outer, inner, its sleep, then outer's sleep.
	if got, wantOrder := strings.Join(order, " "), "outer@0 inner@1 clock_nanosleep@2 clock_nanosleep@1"; got != wantOrder {
		t.Errorf("viewer rows are %q, want %q", got, wantOrder)
	}
}
