package exporter

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kretspan/kretspan/otelbridge"
)

// OTLPHTTP exports spans over OTLP/HTTP (http/protobuf). It POSTs each batch's request as the
// pipeline encoded it, rather than use otlptracehttp, which marshals protobuf-go structs and has
// no way to be given encoded bytes. It follows otlptracehttp in everything else: what the
// client settings mean, its retries and its errors.
type OTLPHTTP struct {
	url     string
	client  *http.Client
	headers http.Header
	gzip    bool
	timeout time.Duration
	retry   HTTPRetry
	gzipped sync.Pool // *gzipBuffer
}

// HTTPRetry is how OTLPHTTP retries a request that failed for a reason that may pass: on
// status 429, 502, 503 or 504, or when the request did not reach the receiver. The waits grow
// from Initial by half each time, randomized by ±50%, up to Max, and retrying stops when the next
// wait would end after MaxElapsed. A Retry-After of more than the wait is waited instead.
type HTTPRetry struct {
	Initial, Max, MaxElapsed time.Duration
}

// DefaultHTTPRetry is otlptracehttp's (and otlptracegrpc's) retry policy.
var DefaultHTTPRetry = HTTPRetry{Initial: 5 * time.Second, Max: 30 * time.Second, MaxElapsed: time.Minute}

// defaultHTTPTimeout bounds an export with its retries, as OTEL_EXPORTER_OTLP_TIMEOUT's default.
const defaultHTTPTimeout = 10 * time.Second

// maxResponseSize is otlptracehttp's bound on the response body read.
const maxResponseSize = 4 << 20

// HTTPOption changes an OTLPHTTP's settings.
type HTTPOption func(*OTLPHTTP)

// WithHTTPRetry sets the retry policy; a zero HTTPRetry turns retries off.
func WithHTTPRetry(r HTTPRetry) HTTPOption { return func(s *OTLPHTTP) { s.retry = r } }

// NewOTLPHTTP makes an OTLP/HTTP exporter that POSTs to endpoint, the signal's full URL (its
// /v1/traces path included): http for plaintext, https for TLS, with client's headers,
// compression, timeout and, over https, certificates. It reads no environment: package config
// resolves and checks the variables into client.
func NewOTLPHTTP(endpoint string, client OTLPClient, opts ...HTTPOption) (*OTLPHTTP, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("start OTLP/HTTP client: endpoint %q is not an http or https URL", endpoint)
	}
	s := &OTLPHTTP{url: endpoint, headers: http.Header{}, gzip: client.Gzip, timeout: client.Timeout, retry: DefaultHTTPRetry}
	for key, value := range client.Headers {
		s.headers.Set(key, value)
	}
	if s.timeout <= 0 {
		s.timeout = defaultHTTPTimeout
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		if transport.TLSClientConfig, err = tlsConfig(client); err != nil {
			return nil, fmt.Errorf("start OTLP/HTTP client: %w", err)
		}
	}
	s.client = &http.Client{Transport: transport}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// tlsConfig trusts client's CA (else the system's) and presents its client certificate, if any.
func tlsConfig(client OTLPClient) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if path := client.Certificate; path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", path)
		}
	}
	// Either alone fails to load, rather than leave the receiver without the certificate.
	if client.ClientCertificate != "" || client.ClientKey != "" {
		cert, err := tls.LoadX509KeyPair(client.ClientCertificate, client.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (s *OTLPHTTP) Export(ctx context.Context, b *otelbridge.Batch) error {
	if err := s.export(ctx, b.Request()); err != nil {
		return fmt.Errorf("export %d spans over OTLP/HTTP: %w", b.Len(), err)
	}
	return nil
}

// export sends an encoded request, given in pieces.
func (s *OTLPHTTP) export(ctx context.Context, request [][]byte) error {
	if err := checkRequestSize(request); err != nil {
		return err
	}
	body := request
	if s.gzip {
		z, _ := s.gzipped.Get().(*gzipBuffer)
		if z == nil {
			z = &gzipBuffer{}
			z.w = gzip.NewWriter(&z.buf)
		}
		defer s.gzipped.Put(z)
		compressed, err := z.compress(request)
		if err != nil {
			return err
		}
		body = [][]byte{compressed}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.send(ctx, body)
}

// gzipBuffer is a gzip writer and the buffer it writes to, kept together for reuse.
type gzipBuffer struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

func (z *gzipBuffer) compress(pieces [][]byte) ([]byte, error) {
	z.buf.Reset()
	z.w.Reset(&z.buf)
	for _, piece := range pieces {
		if _, err := z.w.Write(piece); err != nil {
			return nil, fmt.Errorf("gzip request: %w", err)
		}
	}
	if err := z.w.Close(); err != nil {
		return nil, fmt.Errorf("gzip request: %w", err)
	}
	return z.buf.Bytes(), nil
}

// send POSTs body, the pieces one after the other, retrying as s.retry says until ctx ends.
func (s *OTLPHTTP) send(ctx context.Context, body [][]byte) error {
	start := time.Now()
	wait := s.retry.Initial
	var last error // the previous attempt's failure: when ctx cuts a request, it says why it was retried
	for {
		throttle, err := s.post(ctx, body)
		if last != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w: %w", ctx.Err(), last) // this retry was cut short, not answered
		}
		var retry retryableError
		if err == nil || !errors.As(err, &retry) || s.retry.Initial <= 0 {
			return err
		}
		if ctx.Err() != nil {
			if last != nil {
				err = last
			}
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		last = err
		delay := max(throttle, wait/2+rand.N(wait+1)) // wait ±50%
		if time.Since(start)+delay > s.retry.MaxElapsed {
			return fmt.Errorf("gave up retrying after %v: %w", time.Since(start).Round(time.Millisecond), err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-timer.C:
		}
		wait = min(wait*3/2, s.retry.Max)
	}
}

// retryableError is a failure that may pass: retrying may succeed.
type retryableError struct{ error }

func (e retryableError) Unwrap() error { return e.error }

// post sends one request. A retryable failure's throttle is the receiver's Retry-After.
func (s *OTLPHTTP) post(ctx context.Context, body [][]byte) (throttle time.Duration, err error) {
	// net.Buffers reads its pieces without copying them, and consumes its own slice of them.
	newBody := func() (io.ReadCloser, error) {
		pieces := net.Buffers(slices.Clone(body))
		return io.NopCloser(&pieces), nil
	}
	requestBody, _ := newBody()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, requestBody)
	if err != nil {
		return 0, err
	}
	req.ContentLength, req.GetBody = int64(requestSize(body)), newBody
	for key, values := range s.headers {
		req.Header[key] = values
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "kretspan")
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, err
		}
		// As gRPC's Unavailable, which otlptracegrpc retries: the receiver may be restarting.
		return 0, retryableError{err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return 0, fmt.Errorf("read the response: %w", err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		reportPartialSuccess(resp, data)
		return 0, nil
	}
	err = fmt.Errorf("POST %s: %s%s", s.url, resp.Status, responseMessage(resp, data))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return retryAfter(resp.Header.Get("Retry-After")), retryableError{err}
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return 0, retryableError{err}
	}
	return 0, err
}

// reportPartialSuccess hands spans the receiver rejected to OpenTelemetry's error handler, as
// otlptracegrpc does: the rest of the batch was exported.
func reportPartialSuccess(resp *http.Response, data []byte) {
	if len(data) == 0 || !isProtobuf(resp) {
		return
	}
	var r collectortracepb.ExportTraceServiceResponse
	if err := proto.Unmarshal(data, &r); err != nil {
		otel.Handle(fmt.Errorf("OTLP/HTTP: decode the response: %w", err))
		return
	}
	if p := r.GetPartialSuccess(); p.GetRejectedSpans() != 0 || p.GetErrorMessage() != "" {
		otel.Handle(fmt.Errorf("OTLP partial success: %q (%d spans rejected)", p.GetErrorMessage(), p.GetRejectedSpans()))
	}
}

// responseMessage is ": " and what the receiver said of a failure: the message of a
// google.rpc.Status, as OTLP/HTTP asks receivers to send, else the body's text.
func responseMessage(resp *http.Response, data []byte) string {
	var status statuspb.Status
	if isProtobuf(resp) && proto.Unmarshal(data, &status) == nil && status.GetMessage() != "" {
		return ": " + status.GetMessage()
	}
	text := strings.TrimSpace(string(data))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		return ""
	}
	return ": " + text
}

func isProtobuf(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-protobuf")
}

// retryAfter is a Retry-After value's wait: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if seconds, err := strconv.ParseInt(v, 10, 32); err == nil && seconds >= 0 {
		return time.Duration(seconds) * time.Second
	}
	if date, err := http.ParseTime(v); err == nil {
		return max(time.Until(date), 0)
	}
	return 0
}

// Shutdown closes idle connections; exports in flight end with their contexts.
func (s *OTLPHTTP) Shutdown(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}
