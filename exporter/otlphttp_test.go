package exporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/bpf"
	"github.com/kretspan/kretspan/internal/spantest"
	"github.com/kretspan/kretspan/otelbridge"
)

// fastRetry keeps the tests' waits short.
var fastRetry = HTTPRetry{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, MaxElapsed: 5 * time.Second}

// sinkFunc is a Sink that hands each batch to a function.
type sinkFunc func(*otelbridge.Batch) error

func (f sinkFunc) Export(_ context.Context, b *otelbridge.Batch) error { return f(b) }
func (sinkFunc) Shutdown(context.Context) error                        { return nil }

// withBatch hands f a batch of n spans the pipeline built from varied calls; the batch is valid
// until f returns, as during a Sink's Export.
func withBatch(tb testing.TB, spans int, f func(*otelbridge.Batch)) {
	tb.Helper()
	batches, done := make(chan *otelbridge.Batch), make(chan struct{})
	p, err := otelbridge.NewPipeline(sinkFunc(func(b *otelbridge.Batch) error {
		batches <- b
		<-done
		return nil
	}), testProbes(), testResource(), fixedClock(1_700_000_000_000_000_000), otelbridge.WithBatchSize(spans))
	if err != nil {
		tb.Fatal(err)
	}
	events := make([]bpf.Event, spans)
	for i := range events {
		events[i] = spantest.Event(uint32(1+i%2), int64(-(i % 3)), "cat")
		events[i].SpanId = uint64(i + 1)
		p.Add(&events[i])
	}
	f(<-batches)
	close(done)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		tb.Fatal(err)
	}
}

// encodedRequest is a batch's request as the exporters send it, in its pieces, and decoded.
type encodedRequest struct {
	pieces  [][]byte
	decoded *collectortracepb.ExportTraceServiceRequest
}

// testRequest is the request of a batch the pipeline builds from a few varied calls.
func testRequest(tb testing.TB, spans int) encodedRequest {
	var req encodedRequest
	withBatch(tb, spans, func(b *otelbridge.Batch) {
		for _, piece := range b.Request() {
			req.pieces = append(req.pieces, bytes.Clone(piece))
		}
		var err error
		if req.decoded, err = b.Decode(); err != nil {
			tb.Fatal(err)
		}
	})
	return req
}

// received is one request as the test server saw it, its body decompressed.
type received struct {
	header http.Header
	path   string
	body   []byte
	at     time.Time
}

// otlpServer answers each request with respond, after recording it.
func otlpServer(t *testing.T, respond func(w http.ResponseWriter, n int)) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			z, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			body = z
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		mu.Lock()
		got = append(got, received{r.Header.Clone(), r.URL.Path, data, time.Now()})
		n := len(got)
		mu.Unlock()
		respond(w, n)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func ok(w http.ResponseWriter, _ int) {
	w.Header().Set("Content-Type", "application/x-protobuf")
	data, _ := proto.Marshal(&collectortracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(data)
}

func newHTTPSink(t *testing.T, url string, client OTLPClient, opts ...HTTPOption) *OTLPHTTP {
	t.Helper()
	s, err := NewOTLPHTTP(url, client, append([]HTTPOption{WithHTTPRetry(fastRetry)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func checkBody(t *testing.T, got []byte, want *collectortracepb.ExportTraceServiceRequest) {
	t.Helper()
	var decoded collectortracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(got, &decoded); err != nil {
		t.Fatalf("decode the body: %v", err)
	}
	if !proto.Equal(&decoded, want) {
		t.Errorf("the body decodes to another request than the one exported")
	}
	if marshaled, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(want); !bytes.Equal(got, marshaled) {
		t.Errorf("the body differs from protobuf-go's deterministic encoding")
	}
}

func TestHTTPExportBodyAndHeaders(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprint("gzip=", gz), func(t *testing.T) {
			srv, got := otlpServer(t, ok)
			want := testRequest(t, 20)
			client := OTLPClient{Headers: map[string]string{"authorization": "Bearer token", "tenant": "traces"}, Gzip: gz}
			if err := newHTTPSink(t, srv.URL+"/v1/traces", client).export(context.Background(), want.pieces); err != nil {
				t.Fatal(err)
			}
			r := got()
			if len(r) != 1 {
				t.Fatalf("%d requests, want 1", len(r))
			}
			checkBody(t, r[0].body, want.decoded)
			h := r[0].header
			if r[0].path != "/v1/traces" || h.Get("Content-Type") != "application/x-protobuf" {
				t.Errorf("path %q, content type %q", r[0].path, h.Get("Content-Type"))
			}
			if h.Get("Authorization") != "Bearer token" || h.Get("Tenant") != "traces" {
				t.Errorf("headers %v: want the client's", h)
			}
			if (h.Get("Content-Encoding") == "gzip") != gz {
				t.Errorf("Content-Encoding %q with gzip %v", h.Get("Content-Encoding"), gz)
			}
		})
	}
	// Package config resolves the variables: the sender reads none of them.
	t.Run("no environment", func(t *testing.T) {
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "tenant=env")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "tenant=env")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")
		srv, got := otlpServer(t, ok)
		s := newHTTPSink(t, srv.URL, OTLPClient{})
		if err := s.export(context.Background(), testRequest(t, 1).pieces); err != nil {
			t.Fatal(err)
		}
		if h := got()[0].header; h.Get("Tenant") != "" || h.Get("Content-Encoding") != "" {
			t.Errorf("headers %v: the environment's", h)
		}
		if s.timeout != defaultHTTPTimeout {
			t.Errorf("timeout %v, want the default %v", s.timeout, defaultHTTPTimeout)
		}
	})
}

func TestHTTPRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		header   map[string]string
		attempts int           // before success
		atLeast  time.Duration // from the first attempt to the last
	}{
		{"429 with Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "1"}, 2, time.Second},
		{"503", http.StatusServiceUnavailable, nil, 3, 0},
		{"502", http.StatusBadGateway, nil, 2, 0},
		{"504", http.StatusGatewayTimeout, nil, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := otlpServer(t, func(w http.ResponseWriter, n int) {
				if n < tc.attempts {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tc.status)
					return
				}
				ok(w, n)
			})
			want := testRequest(t, 3)
			if err := newHTTPSink(t, srv.URL, OTLPClient{}).export(context.Background(), want.pieces); err != nil {
				t.Fatal(err)
			}
			r := got()
			if len(r) != tc.attempts {
				t.Fatalf("%d requests, want %d", len(r), tc.attempts)
			}
			checkBody(t, r[len(r)-1].body, want.decoded)
			if d := r[len(r)-1].at.Sub(r[0].at); d < tc.atLeast {
				t.Errorf("retried after %v, want Retry-After's %v", d, tc.atLeast)
			}
		})
	}
}

func TestHTTPPermanentFailure(t *testing.T) {
	srv, got := otlpServer(t, func(w http.ResponseWriter, _ int) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusBadRequest)
		data, _ := proto.Marshal(&statuspb.Status{Code: 3, Message: "span 7 has no trace id"})
		_, _ = w.Write(data)
	})
	err := newHTTPSink(t, srv.URL, OTLPClient{}).export(context.Background(), testRequest(t, 1).pieces)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request: span 7 has no trace id") {
		t.Errorf("error %v, want the status and the google.rpc.Status message", err)
	}
	if n := len(got()); n != 1 {
		t.Errorf("%d requests: a 400 was retried", n)
	}
	srv, _ = otlpServer(t, func(w http.ResponseWriter, _ int) { http.Error(w, "no such tenant", http.StatusUnauthorized) })
	if err := newHTTPSink(t, srv.URL, OTLPClient{}).export(context.Background(), testRequest(t, 1).pieces); err == nil || !strings.Contains(err.Error(), "401 Unauthorized: no such tenant") {
		t.Errorf("error %v, want the body's text", err)
	}
}

// Retries stop when the export's context ends, and the timeout bounds an export.
func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, _ := otlpServer(t, func(w http.ResponseWriter, _ int) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	start := time.Now()
	err := newHTTPSink(t, srv.URL, OTLPClient{Timeout: 200 * time.Millisecond}).export(context.Background(), testRequest(t, 1).pieces)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a timeout of 200ms", d)
	}

	// A receiver that keeps saying 503: the caller's context ends the retries.
	srv, got := otlpServer(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusServiceUnavailable) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = newHTTPSink(t, srv.URL, OTLPClient{}, WithHTTPRetry(HTTPRetry{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: time.Hour})).export(ctx, testRequest(t, 1).pieces)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %v, want the deadline and the last status", err)
	}
	if n := len(got()); n < 2 {
		t.Errorf("%d requests, want retries until the deadline", n)
	}
}

func TestHTTPPartialSuccessIsReported(t *testing.T) {
	var reported atomic.Value
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { reported.Store(err.Error()) }))
	defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	srv, _ := otlpServer(t, func(w http.ResponseWriter, _ int) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		data, _ := proto.Marshal(&collectortracepb.ExportTraceServiceResponse{PartialSuccess: &collectortracepb.ExportTracePartialSuccess{RejectedSpans: 2, ErrorMessage: "too old"}})
		_, _ = w.Write(data)
	})
	if err := newHTTPSink(t, srv.URL, OTLPClient{}).export(context.Background(), testRequest(t, 3).pieces); err != nil {
		t.Fatal(err)
	}
	if got, _ := reported.Load().(string); !strings.Contains(got, `"too old" (2 spans rejected)`) {
		t.Errorf("reported %q", got)
	}
}

func TestHTTPTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ok(w, 0) }))
	srv.StartTLS()
	defer srv.Close()
	want := testRequest(t, 1)
	// Without the CA, the server's certificate is not trusted.
	if err := newHTTPSink(t, srv.URL, OTLPClient{}, WithHTTPRetry(HTTPRetry{})).export(context.Background(), want.pieces); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %v, want an untrusted certificate", err)
	}
	ca := writePEM(t, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
	if err := newHTTPSink(t, srv.URL, OTLPClient{Certificate: ca}).export(context.Background(), want.pieces); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	for _, tc := range []struct {
		client OTLPClient
		want   string
	}{
		{OTLPClient{Certificate: filepath.Join(t.TempDir(), "missing.pem")}, "read CA certificate"},
		{OTLPClient{Certificate: writePEM(t, "key.pem", "PRIVATE KEY", []byte("x"))}, "no PEM certificate"},
		// Half a client certificate fails, rather than send without it (package config refuses it first).
		{OTLPClient{Certificate: ca, ClientCertificate: ca}, "client certificate"},
		{OTLPClient{Certificate: ca, ClientKey: ca}, "client certificate"},
	} {
		if _, err := NewOTLPHTTP(srv.URL, tc.client); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.client, err, tc.want)
		}
	}
}

// A receiver that requires a client certificate gets the client's.
func TestHTTPClientCertificate(t *testing.T) {
	certFile, keyFile, cert := clientCertificate(t)
	peers := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers <- r.TLS.PeerCertificates[0].Subject.CommonName
		ok(w, 0)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: x509.NewCertPool()}
	srv.TLS.ClientCAs.AddCert(cert)
	srv.StartTLS()
	defer srv.Close()
	ca := writePEM(t, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
	want := testRequest(t, 1)
	if err := newHTTPSink(t, srv.URL, OTLPClient{Certificate: ca}, WithHTTPRetry(HTTPRetry{})).export(context.Background(), want.pieces); err == nil {
		t.Error("exported without a client certificate to a receiver that requires one")
	}
	client := OTLPClient{Certificate: ca, ClientCertificate: certFile, ClientKey: keyFile}
	if err := newHTTPSink(t, srv.URL, client).export(context.Background(), want.pieces); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if name := <-peers; name != cert.Subject.CommonName {
		t.Errorf("the receiver saw %q, want %q", name, cert.Subject.CommonName)
	}
}

// writePEM writes one PEM block to a file of the test's and returns its path.
func writePEM(t *testing.T, name, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCertificate makes a self-signed client certificate and writes it and its key to PEM files.
func clientCertificate(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kretspan test client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "client.pem", "CERTIFICATE", der), writePEM(t, "client.key", "PRIVATE KEY", keyDER), cert
}

// Through the pipeline and the exporter table, as kretspan runs it.
func TestHTTPThroughPipeline(t *testing.T) {
	srv, got := otlpServer(t, ok)
	client := OTLPClient{Headers: map[string]string{"tenant": "a"}, Gzip: true}
	sink, err := NewTraceExporter(context.Background(), "otlp", Destination{Endpoint: srv.URL + "/v1/traces", Protocol: "http/protobuf", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPipeline(t, sink, otelbridge.WithBatchSize(2))
	for i := range 5 {
		e := spantest.Event(1, 0, "cat")
		e.SpanId = uint64(i + 1)
		p.Add(&e)
	}
	closePipeline(t, p)
	if st := p.Stats(); st.Exported != 5 || st.ExportFailed != 0 {
		t.Errorf("stats %+v", st)
	}
	spans := 0
	for _, r := range got() {
		if r.header.Get("Tenant") != "a" || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("headers %v: want the destination's client", r.header)
		}
		var req collectortracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(r.body, &req); err != nil {
			t.Fatal(err)
		}
		spans += len(req.ResourceSpans[0].ScopeSpans[0].Spans)
	}
	if spans != 5 {
		t.Errorf("received %d spans, want 5", spans)
	}
	if err := sink.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// BenchmarkHTTPExport exports a 512-span batch to a loopback server that decodes and discards
// it, as BenchmarkGRPCExport's does: the time per span is the sender's and the server's.
func BenchmarkHTTPExport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := make([]byte, r.ContentLength) // as gRPC's server reads a message: no growing
		_, _ = io.ReadFull(r.Body, data)
		var got collectortracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(data, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	s, err := NewOTLPHTTP(srv.URL, OTLPClient{})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkExport(b, s)
}

// benchmarkExport measures s's Export of a 512-span batch.
func benchmarkExport(b *testing.B, s otelbridge.Sink) {
	const spans = 512
	withBatch(b, spans, func(batch *otelbridge.Batch) {
		export := func() error { return s.Export(context.Background(), batch) }
		b.ReportAllocs()
		for b.Loop() {
			if err := export(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
		b.ReportMetric(float64(testing.AllocsPerRun(10, func() { _ = export() }))/spans, "allocs/span")
	})
}

// discardTraces is a gRPC trace service that decodes requests and keeps nothing.
type discardTraces struct {
	collectortracepb.UnimplementedTraceServiceServer
}

func (discardTraces) Export(context.Context, *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

// BenchmarkGRPCExport is BenchmarkHTTPExport over gRPC, through otlptracegrpc and TraceCodec.
func BenchmarkGRPCExport(b *testing.B) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	collectortracepb.RegisterTraceServiceServer(srv, discardTraces{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	s, err := NewOTLP(context.Background(), "http://"+lis.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Shutdown(context.Background()) }()
	benchmarkExport(b, s)
}
