// Command httpservice is a small HTTP service instrumented with the OpenTelemetry SDK whose
// request spans kretspan fills with the kernel calls they make. Its handler reads a file and opens
// a connection on loopback; spanbind.Middleware binds each request's span to the thread serving
// it, so kretspan parents those calls (openat, read, connect …) under the request span.
//
//	go run ./examples/httpservice -file /etc/os-release
//	sudo kretspan syscall:openat syscall:read syscall:connect   # finds the marker by itself
//	curl http://127.0.0.1:8080/work
//
// OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables configure its exporter.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kretspan/kretspan/spanbind"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	file := flag.String("file", "/etc/os-release", "file the handler reads")
	sample := flag.Float64("sample", 1, "ratio of requests to trace")
	flag.Parse()
	if err := run(*addr, *file, *sample); err != nil {
		log.Fatal(err)
	}
}

func run(addr, file string, sample float64) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("httpservice")), resource.WithFromEnv())
	if err != nil {
		return err
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))))
	defer provider.Shutdown(context.Background())
	tracer := provider.Tracer("github.com/kretspan/kretspan/examples/httpservice")

	// The upstream the handler connects to: a second listener of this process.
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer upstream.Close()
	go acceptAndClose(upstream)

	mux := http.NewServeMux()
	mux.Handle("/work", serverSpan(tracer, "GET /work", spanbind.Middleware(work(file, upstream.Addr().String()))))
	// /unbound does the same work without binding: its kernel calls stay roots of their own.
	mux.Handle("/unbound", work(file, upstream.Addr().String()))

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s pid %d\n", listener.Addr(), os.Getpid())
	server := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		server.Shutdown(context.Background())
	}()
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serverSpan starts the request's server span, as OpenTelemetry's HTTP instrumentation would.
func serverSpan(tracer trace.Tracer, name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		w.Header().Set("X-Trace-Id", span.SpanContext().TraceID().String())
		w.Header().Set("X-Span-Id", span.SpanContext().SpanID().String())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func work(file, upstream string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(file)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		conn, err := net.Dial("tcp", upstream)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn.Close()
		fmt.Fprintf(w, "read %d bytes, connected to %s\n", len(data), upstream)
	})
}

func acceptAndClose(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		conn.Close()
	}
}
