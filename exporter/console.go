package exporter

import (
	"bufio"
	"context"
	"fmt"
	"io"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/kretspan/kretspan/otelbridge"
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
		case otelbridge.AttrErrno: // failure or not: "connect returned -115 (EINPROGRESS)"
			errno = kv.Value.GetStringValue()
		}
	}
	fmt.Fprintf(s.w, "%s%s returned %d", span.Name, formatArgs(span.Name, span.Attributes), ret)
	if errno != "" {
		fmt.Fprintf(s.w, " (%s)", errno)
	}
	fmt.Fprintf(s.w, " and took %d ns (pid %d tid %d comm %s)\n", span.EndTimeUnixNano-span.StartTimeUnixNano, pid, tid, comm)
}

func (s *Console) Shutdown(context.Context) error { return s.w.Flush() }

// Discard drops every span: for measuring kretspan itself.
type Discard struct{}

func (Discard) Export(context.Context, *otelbridge.Batch) error { return nil }
func (Discard) Shutdown(context.Context) error                  { return nil }
