package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kretspan/kretspan/exporter"
)

// Receiver is an OTLP receiver on loopback, over gRPC and over HTTP (http/protobuf), that counts
// spans and bytes. It serves the real trace and metrics services, but instead of unmarshalling
// each request into Go structs it walks the protobuf wire format to count the spans (validating
// the framing on the way): the benchmark shares this machine's cores with kretspan, and a full
// decode would take CPU from the process being measured.
type Receiver struct {
	server       *grpc.Server
	listener     net.Listener
	httpServer   *http.Server
	httpListener net.Listener
	bodies       sync.Pool // *bytes.Buffer, an HTTP request's body

	mu       sync.Mutex
	spans    uint64
	bytes    uint64 // protobuf payload bytes of the requests (uncompressed)
	requests uint64
	last     time.Time // when the last request arrived

	metricRequests uint64
	bad            error
}

// OTLPProtocol is a protocol kretspan exports over and the receiver serves.
type OTLPProtocol struct {
	Flag string // kretspan's --otlp-protocol
	Name string // in the table's rows
}

// protocols are the ones the end-to-end runs and the exporting overhead variants measure, each.
var protocols = []OTLPProtocol{{exporter.ProtocolGRPC, "OTLP gRPC"}, {exporter.ProtocolHTTP, "OTLP/HTTP"}}

// StartReceiver listens on two free loopback ports, one per protocol.
func StartReceiver() (*Receiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.Close()
		return nil, err
	}
	r := &Receiver{listener: l, httpListener: hl, server: grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(64<<20))}
	r.server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "opentelemetry.proto.collector.trace.v1.TraceService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Export", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var req rawMessage
			if err := dec(&req); err != nil {
				return nil, err
			}
			if err := r.count(req); err != nil {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
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
			r.countMetrics()
			return &rawMessage{}, nil
		}}},
	}, struct{}{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) { r.serveHTTP(w, req, r.count) })
	mux.HandleFunc("POST /v1/metrics", func(w http.ResponseWriter, req *http.Request) {
		r.serveHTTP(w, req, func([]byte) error { r.countMetrics(); return nil })
	})
	r.httpServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go r.server.Serve(l)
	go r.httpServer.Serve(hl)
	return r, nil
}

// serveHTTP reads an OTLP/HTTP request's protobuf body, gunzipping it if it says so, hands it to
// count, and answers as OTLP/HTTP asks: 200 with an empty Export*ServiceResponse (zero bytes), or
// 400 for a malformed request, 415 for a body that is not protobuf.
func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request, count func([]byte) error) {
	if mediaType, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mediaType != protobufType {
		http.Error(w, "Content-Type must be "+protobufType, http.StatusUnsupportedMediaType)
		return
	}
	body := io.Reader(req.Body)
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		z, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, "gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer z.Close()
		body = z
	default:
		http.Error(w, "unsupported Content-Encoding", http.StatusUnsupportedMediaType)
		return
	}
	buf, _ := r.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = &bytes.Buffer{}
	}
	defer r.bodies.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := count(buf.Bytes()); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", protobufType)
	w.WriteHeader(http.StatusOK)
}

const protobufType = "application/x-protobuf"

// Endpoint is the receiver's endpoint for kretspan's --otlp-endpoint over protocol p: for
// OTLP/HTTP the base URL, to which kretspan appends /v1/traces and /v1/metrics.
func (r *Receiver) Endpoint(p OTLPProtocol) string {
	if p.Flag == exporter.ProtocolHTTP {
		return "http://" + r.httpListener.Addr().String()
	}
	return "http://" + r.listener.Addr().String()
}

// kretspanArgs are kretspan's flags to export to the receiver over p.
func (r *Receiver) kretspanArgs(p OTLPProtocol) []string {
	return []string{"--otlp-endpoint", r.Endpoint(p), "--otlp-protocol", p.Flag}
}

// Stop closes the receiver.
func (r *Receiver) Stop() {
	r.server.Stop()
	r.httpServer.Close()
}

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

// count counts a trace export request; a malformed one is refused, and fails the run.
func (r *Receiver) count(req []byte) error {
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
	return err
}

func (r *Receiver) countMetrics() {
	r.mu.Lock()
	r.metricRequests++
	r.mu.Unlock()
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
