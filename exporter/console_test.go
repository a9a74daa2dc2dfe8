package exporter

import (
	"bytes"
	"testing"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

func TestConsoleFormat(t *testing.T) {
	var out bytes.Buffer
	p := newTestPipeline(t, NewConsole(&out), otelbridge.WithBatchSize(10))
	for _, e := range []bpf.Event{spantest.Event(1, 3, "cat"), spantest.Event(1, -2, "cat"), spantest.Event(2, -2, "app"), spantest.Event(1, -512, "cat"), spantest.Event(1, -115, "cat")} {
		p.Add(&e)
	}
	closePipeline(t, p)
	want := "openat returned 3 and took 123456 ns (pid 1234 tid 1240 comm cat)\n" +
		"openat returned -2 (ENOENT) and took 123456 ns (pid 1234 tid 1240 comm cat)\n" +
		"main.handle returned -2 and took 123456 ns (pid 1234 tid 1240 comm app)\n" +
		"openat returned -512 (ERESTARTSYS) and took 123456 ns (pid 1234 tid 1240 comm cat)\n" +
		"openat returned -115 (EINPROGRESS) and took 123456 ns (pid 1234 tid 1240 comm cat)\n"
	if out.String() != want {
		t.Errorf("console output\n%s\nwant\n%s", out.String(), want)
	}
}

func TestDiscard(t *testing.T) {
	p := newTestPipeline(t, Discard{}, otelbridge.WithBatchSize(2))
	e := spantest.Event(1, 0, "cat")
	for range 5 {
		p.Add(&e)
	}
	closePipeline(t, p)
	if st := p.Stats(); st.Exported != 5 {
		t.Errorf("stats %+v", st)
	}
}
