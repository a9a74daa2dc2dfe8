// Package otlpreceiver is a real OTLP gRPC trace receiver on loopback, for tests that check what
// kretspan exports.
package otlpreceiver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	metricscollectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is a received span with its resource attributes.
type Span struct {
	*tracepb.Span
	Resource map[string]any
}

// Attr returns a span attribute's value (int64, string, bool or float64), or nil.
func (s Span) Attr(key string) any { return attrMap(s.Attributes)[key] }

// Receiver collects every span and metrics export sent to it.
type Receiver struct {
	collectorpb.UnimplementedTraceServiceServer
	server   *grpc.Server
	listener net.Listener

	mu      sync.Mutex
	spans   []Span
	metrics []*metricspb.ResourceMetrics
}

type metricsService struct {
	metricscollectorpb.UnimplementedMetricsServiceServer
	r *Receiver
}

func (m metricsService) Export(_ context.Context, req *metricscollectorpb.ExportMetricsServiceRequest) (*metricscollectorpb.ExportMetricsServiceResponse, error) {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	m.r.metrics = append(m.r.metrics, req.ResourceMetrics...)
	return &metricscollectorpb.ExportMetricsServiceResponse{}, nil
}

// Metrics returns every metrics export received so far, in order.
func (r *Receiver) Metrics() []*metricspb.ResourceMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*metricspb.ResourceMetrics(nil), r.metrics...)
}

// Option configures a Receiver.
type Option func(*options)

type options struct{ noMetrics bool }

// WithoutMetrics leaves the metrics service out, as a backend that stores only traces (Jaeger)
// does: metrics exports get gRPC code Unimplemented.
func WithoutMetrics() Option { return func(o *options) { o.noMetrics = true } }

// Start listens on a free loopback port.
func Start(opts ...Option) (*Receiver, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	r := &Receiver{server: grpc.NewServer(), listener: listener}
	collectorpb.RegisterTraceServiceServer(r.server, r)
	if !o.noMetrics {
		metricscollectorpb.RegisterMetricsServiceServer(r.server, metricsService{r: r})
	}
	go r.server.Serve(listener)
	return r, nil
}

// Endpoint is the receiver's address as an OTLP endpoint URL.
func (r *Receiver) Endpoint() string { return "http://" + r.listener.Addr().String() }

// Stop closes the receiver.
func (r *Receiver) Stop() { r.server.Stop() }

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		resource := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.ScopeSpans {
			for _, span := range ss.Spans {
				r.spans = append(r.spans, Span{Span: span, Resource: resource})
			}
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// WaitFor polls until match holds for the received spans or the timeout passes.
func (r *Receiver) WaitFor(timeout time.Duration, match func([]Span) bool) []Span {
	deadline := time.Now().Add(timeout)
	for {
		spans := r.Spans()
		if match(spans) || time.Now().After(deadline) {
			return spans
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = v.IntValue
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = v.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = v.DoubleValue
		}
	}
	return m
}
