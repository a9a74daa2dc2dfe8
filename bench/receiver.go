package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// Receiver is an OTLP gRPC trace (and metrics) receiver on loopback that counts spans and bytes. It serves the
// real service (opentelemetry.proto.collector.trace.v1.TraceService/Export) over real gRPC, but
// instead of unmarshalling each request into Go structs it walks the protobuf wire format to
// count the spans (validating the framing on the way): the benchmark shares this machine's cores
// with kretspan, and a full decode would take CPU from the process being measured.
type Receiver struct {
	server   *grpc.Server
	listener net.Listener

	mu       sync.Mutex
	spans    uint64
	bytes    uint64 // protobuf payload bytes of the requests
	requests uint64
	last     time.Time // when the last request arrived

	metricRequests uint64
	bad            error
}

// StartReceiver listens on a free loopback port.
func StartReceiver() (*Receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Receiver{listener: l, server: grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(64<<20))}
	r.server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Export", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req rawMessage
			if err := dec(&req); err != nil {
				return nil, err
			}
			r.count(req)
			return &rawMessage{}, nil // an empty ExportTraceServiceResponse
		}}},
	}, struct{}{})
	// kretspan exports OTLP metrics to the same endpoint by default (--metrics-interval): accept
	// and count them as a collector would, or kretspan reports the export as failed.
	r.server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.metrics.v1.MetricsService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Export", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req rawMessage
			if err := dec(&req); err != nil {
				return nil, err
			}
			r.mu.Lock()
			r.metricRequests++
			r.mu.Unlock()
			return &rawMessage{}, nil
		}}},
	}, struct{}{})
	go r.server.Serve(l)
	return r, nil
}

// Endpoint is the receiver's OTLP endpoint URL.
func (r *Receiver) Endpoint() string { return "http://" + r.listener.Addr().String() }

// Stop closes the receiver.
func (r *Receiver) Stop() { r.server.Stop() }

// ReceiverCounts are the receiver's totals.
type ReceiverCounts struct {
	Spans, Bytes, Requests uint64
	MetricRequests         uint64
	Last                   time.Time
	Err                    error // a malformed request, if any
}

// Counts returns the totals so far.
func (r *Receiver) Counts() ReceiverCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReceiverCounts{Spans: r.spans, Bytes: r.bytes, Requests: r.requests, MetricRequests: r.metricRequests, Last: r.last, Err: r.bad}
}

func (r *Receiver) count(req rawMessage) {
	n, err := countSpans(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans += uint64(n)
	r.bytes += uint64(len(req))
	r.requests++
	r.last = time.Now()
	if err != nil && r.bad == nil {
		r.bad = err
	}
}

// countSpans counts ExportTraceServiceRequest.resource_spans[].scope_spans[].spans[].
func countSpans(req []byte) (int, error) {
	n := 0
	err := eachField(req, 1, func(rs []byte) error { // resource_spans
		return eachField(rs, 2, func(ss []byte) error { // scope_spans
			return eachField(ss, 2, func([]byte) error { n++; return nil }) // spans
		})
	})
	return n, err
}

// eachField calls f with every length-delimited field number num of msg, skipping the others.
func eachField(msg []byte, num protowire.Number, f func([]byte) error) error {
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return protowire.ParseError(l)
		}
		msg = msg[l:]
		if n == num && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(msg)
			if l < 0 {
				return protowire.ParseError(l)
			}
			if err := f(v); err != nil {
				return err
			}
			msg = msg[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, msg)
		if l < 0 {
			return protowire.ParseError(l)
		}
		msg = msg[l:]
	}
	return nil
}

// rawMessage is a protobuf message kept in its wire form.
type rawMessage []byte

// rawCodec passes protobuf messages through as bytes.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *m, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return errors.New("rawCodec: unmarshal into a non-raw message")
	}
	*m = append((*m)[:0], data...) // grpc may reuse data's buffer
	return nil
}
