package otelbridge

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CheckEnvironment validates the OTEL_* variables kretspan's exporter and resource read. The
// OpenTelemetry SDK logs a malformed value and falls back to its default, which would send spans
// somewhere the user did not ask for; kretspan refuses instead. lookup is os.LookupEnv.
func CheckEnvironment(lookup func(string) (string, bool)) error {
	for _, prefix := range []string{"OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_"} {
		if v, ok := lookup(prefix + "ENDPOINT"); ok && v != "" {
			if err := CheckEndpoint(v); err != nil {
				return fmt.Errorf("%sENDPOINT: %w", prefix, err)
			}
		}
		if v, ok := lookup(prefix + "TIMEOUT"); ok && v != "" {
			if ms, err := strconv.ParseUint(v, 10, 63); err != nil || time.Duration(ms)*time.Millisecond <= 0 {
				return fmt.Errorf("%sTIMEOUT=%q: want a positive number of milliseconds", prefix, v)
			}
		}
		if v, ok := lookup(prefix + "INSECURE"); ok && v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%sINSECURE=%q: want true or false", prefix, v)
			}
		}
		if v, ok := lookup(prefix + "COMPRESSION"); ok && v != "" && v != "gzip" && v != "none" {
			return fmt.Errorf("%sCOMPRESSION=%q: want gzip or none", prefix, v)
		}
		if v, ok := lookup(prefix + "HEADERS"); ok && v != "" {
			if err := checkKeyValues(v); err != nil {
				return fmt.Errorf("%sHEADERS: %w", prefix, err)
			}
		}
	}
	if v, ok := lookup("OTEL_RESOURCE_ATTRIBUTES"); ok && v != "" {
		if err := checkKeyValues(v); err != nil {
			return fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
	}
	// The resource goes into every request, and OTLP refuses one with a string that is not UTF-8.
	if v, ok := lookup("OTEL_SERVICE_NAME"); ok && !utf8.ValidString(v) {
		return fmt.Errorf("OTEL_SERVICE_NAME=%q: not valid UTF-8", v)
	}
	return nil
}

// CheckEndpoint validates an OTLP gRPC endpoint URL: http (plaintext) or https, with a host.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want a URL such as http://localhost:4317 (http for plaintext gRPC, https for TLS)", endpoint)
	}
	return nil
}

// checkKeyValues validates the W3C-baggage-like list "k1=v1,k2=v2" both headers and resource
// attributes use.
func checkKeyValues(list string) error {
	for _, pair := range strings.Split(list, ",") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return fmt.Errorf("%q: want comma-separated key=value pairs", pair)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("%q: bad percent-encoding: %w", pair, err)
		}
		if !utf8.ValidString(key) || !utf8.ValidString(decoded) {
			return fmt.Errorf("%q: not valid UTF-8 once decoded", pair)
		}
	}
	return nil
}
