// Package spanbind lets kretspan put kernel calls inside an application's own traces.
//
// Bind ties the span in a context to the calling OS thread; while it holds, every call kretspan
// traces on that thread becomes a child of the span (the outermost one, that is: nested calls
// stay children of their kernel parents). The binding reaches kretspan through a uprobe on a
// marker function, so it costs a function call, needs no syscall and nothing to configure:
// kretspan finds the marker in running processes, in those given with --pid, and in binaries
// given with --correlate. Without kretspan running, Bind only locks and unlocks the thread.
//
// The application's sampling decision holds: a span that is not sampled binds the thread too,
// so that its kernel calls are left out rather than traced as roots of their own.
package spanbind

import (
	"context"
	"encoding/binary"
	"net/http"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Flags of the marker call; they match BIND_* in kretspan's bpf/kretspan.h.
const (
	flagSampled = 1
	flagRelease = 2
)

// Bind ties the span in ctx to the current OS thread until release is called, and locks the
// goroutine to the thread meanwhile, since Go moves goroutines between threads. A ctx without a
// valid span context binds nothing. Call release on the same goroutine.
func Bind(ctx context.Context) (release func()) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return func() {}
	}
	runtime.LockOSThread()
	traceID, spanID := sc.TraceID(), sc.SpanID()
	var flags uint64
	if sc.IsSampled() {
		flags = flagSampled
	}
	kretspan_marker(binary.BigEndian.Uint64(traceID[:8]), binary.BigEndian.Uint64(traceID[8:]),
		binary.BigEndian.Uint64(spanID[:]), uint64(time.Now().UnixNano()), flags)
	return func() {
		kretspan_marker(0, 0, 0, 0, flagRelease)
		runtime.UnlockOSThread()
	}
}

// Middleware binds each request's span (from the request context, as set by an OpenTelemetry
// HTTP instrumentation that runs before it) to the thread serving the request.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release := Bind(r.Context())
		defer release()
		next.ServeHTTP(w, r)
	})
}

// kretspan_marker is where kretspan's uprobe reads a binding: the trace ID's two halves, the span
// ID, the application's clock and the flags, in Go's register ABI (RAX, RBX, RCX, RDI, RSI). Its
// name is the contract with kretspan, which looks for a symbol ending in ".kretspan_marker". The
// body is empty: a call that is not inlined passes its arguments in those registers regardless.
//
//go:noinline
func kretspan_marker(traceHigh, traceLow, spanID, wallNanos, flags uint64) {}
