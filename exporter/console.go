package exporter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kretspan/kretspan/otelbridge"
	"github.com/kretspan/kretspan/probe"
)

// Console prints one line per span, in the spirit of the kernel's kretprobe example.
type Console struct {
	w *bufio.Writer
}

// NewConsole writes lines to w.
func NewConsole(w io.Writer) *Console { return &Console{w: bufio.NewWriter(w)} }

func (s *Console) Export(_ context.Context, b *otelbridge.Batch) error {
	request, err := b.Decode()
	if err != nil {
		return err
	}
	for _, rs := range request.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, span := range ss.Spans {
				s.write(span)
			}
		}
	}
	return s.w.Flush()
}

func (s *Console) write(span *tracepb.Span) {
	var ret, pid, tid int64
	var comm, errno string
	syscall := false
	split := map[string]int64{}
	for _, kv := range span.Attributes {
		switch kv.Key {
		case otelbridge.AttrReturnValue:
			ret = kv.Value.GetIntValue()
		case otelbridge.AttrPID:
			pid = kv.Value.GetIntValue()
		case otelbridge.AttrTID:
			tid = kv.Value.GetIntValue()
		case otelbridge.AttrThreadName:
			comm = kv.Value.GetStringValue()
		case otelbridge.AttrProbeKind:
			syscall = kv.Value.GetStringValue() == string(probe.KindSyscall)
		case otelbridge.AttrErrno: // failure or not: "connect returned -115 (EINPROGRESS)"
			errno = kv.Value.GetStringValue()
		case otelbridge.AttrSchedOnCPU, otelbridge.AttrSchedRunqueue, otelbridge.AttrSchedBlocked:
			split[kv.Key] = kv.Value.GetIntValue()
		}
	}
	fmt.Fprintf(s.w, "%s%s returned %d", span.Name, formatArgs(span.Name, syscall, span.Attributes), ret)
	if errno != "" {
		fmt.Fprintf(s.w, " (%s)", errno)
	}
	fmt.Fprintf(s.w, " and took %d ns", span.EndTimeUnixNano-span.StartTimeUnixNano)
	if len(split) > 0 {
		fmt.Fprintf(s.w, ": %s on CPU, %s runnable, %s blocked", milliseconds(split[otelbridge.AttrSchedOnCPU]),
			milliseconds(split[otelbridge.AttrSchedRunqueue]), milliseconds(split[otelbridge.AttrSchedBlocked]))
		if where := blockedIn(span); where != "" {
			fmt.Fprintf(s.w, " in %s", where)
		}
	}
	fmt.Fprintf(s.w, " (pid %d tid %d comm %s)\n", pid, tid, comm)
}

func milliseconds(ns int64) string { return fmt.Sprintf("%.1f ms", float64(ns)/1e6) }

// blockedIn names the innermost kernel functions of the span's blocked event past the
// scheduler's own frames: "io_schedule ← folio_wait_bit_common ← filemap_read".
func blockedIn(span *tracepb.Span) string {
	for _, event := range span.Events {
		if event.Name != otelbridge.BlockedEventName {
			continue
		}
		for _, kv := range event.Attributes {
			if kv.Key != otelbridge.AttrCodeStacktrace {
				continue
			}
			var names []string
			for _, line := range strings.Split(kv.Value.GetStringValue(), "\n") {
				name, _, _ := strings.Cut(line, "+")
				switch {
				case !strings.HasSuffix(line, "[kernel]"):
				case name == "schedule" || name == "__schedule" || strings.HasPrefix(name, "bpf_") || strings.Contains(name, "trace"):
					names = names[:0] // the scheduler and the hook that captured the stack
				default:
					names = append(names, name)
				}
			}
			return strings.Join(names[:min(len(names), 3)], " ← ")
		}
	}
	return ""
}

func (s *Console) Shutdown(context.Context) error { return s.w.Flush() }

// Discard drops every span: for measuring kretspan itself.
type Discard struct{}

func (Discard) Export(context.Context, *otelbridge.Batch) error { return nil }
func (Discard) Shutdown(context.Context) error                  { return nil }
