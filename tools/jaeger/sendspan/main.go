// Command sendspan sends a tiny trace (a parent span with one child) over OTLP
// gRPC and prints its trace ID. It is a smoke test for a local Jaeger started
// by tools/jaeger/start.sh:
//
//	go run ./sendspan -service demo
//	curl -s 'http://127.0.0.1:16686/api/traces?service=demo'
//
// The standard OTEL_EXPORTER_OTLP_* variables apply (default endpoint
// localhost:4317); -endpoint overrides them. The connection is plaintext
// unless the endpoint is an https:// URL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func main() {
	service := flag.String("service", "sendspan", "service.name resource attribute")
	name := flag.String("name", "sendspan.parent", "name of the parent span")
	endpoint := flag.String("endpoint", "", "OTLP gRPC endpoint host:port or URL (default: OTEL_EXPORTER_OTLP_* or localhost:4317)")
	timeout := flag.Duration("timeout", 10*time.Second, "export timeout")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("sendspan: ")

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	traceID, err := send(ctx, *service, *name, *endpoint)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(traceID)
}

func send(ctx context.Context, service, name, endpoint string) (string, error) {
	var opts []otlptracegrpc.Option
	if endpoint != "" {
		if strings.Contains(endpoint, "://") {
			opts = append(opts, otlptracegrpc.WithEndpointURL(endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure())
		}
	} else if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		// The SDK's default endpoint (localhost:4317) uses TLS unless told
		// otherwise; a local Jaeger speaks plaintext.
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("otlp exporter: %w", err)
	}

	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("host.name", hostname()),
	))
	if err != nil {
		return "", fmt.Errorf("resource: %w", err)
	}

	// A syncer exports each span when it ends, so nothing waits for a batch.
	// It reports export failures only to the global error handler: collect them.
	var exportErrs []error
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		// Each span is exported on its own and usually fails the same way.
		for _, e := range exportErrs {
			if e.Error() == err.Error() {
				return
			}
		}
		exportErrs = append(exportErrs, err)
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	tracer := tp.Tracer("github.com/kretspan/kretspan/tools/jaeger/sendspan")

	ctx, parent := tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("kretspan.probe", "syscall:openat"),
			attribute.Int64("kretspan.pid", int64(os.Getpid())),
			attribute.Bool("kretspan.test", true),
		))
	_, child := tracer.Start(ctx, "sendspan.child", trace.WithAttributes(attribute.Int64("kretspan.ret", -2)))
	time.Sleep(2 * time.Millisecond)
	child.AddEvent("sendspan.event", trace.WithAttributes(attribute.String("detail", "an event on the child")))
	child.SetStatus(codes.Error, "ENOENT")
	child.End()
	time.Sleep(1 * time.Millisecond)
	parent.End()

	traceID := parent.SpanContext().TraceID().String()
	// Shutdown usually repeats the error the handler already got.
	if err := tp.Shutdown(ctx); err != nil && len(exportErrs) == 0 {
		exportErrs = append(exportErrs, err)
	}
	if err := errors.Join(exportErrs...); err != nil {
		return traceID, fmt.Errorf("export: %w", err)
	}
	return traceID, nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
