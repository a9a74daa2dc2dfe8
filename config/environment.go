package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// applyEnvironment applies the settings' OTEL_* variables and checks those the OpenTelemetry
// clients read themselves. The SDK logs a malformed value and falls back to its default, which
// would send data somewhere the user did not ask for; kretspan refuses instead. As the
// OpenTelemetry specification asks, an empty (or blank) variable is as if unset.
func applyEnvironment(s *Settings, lookupEnv func(string) (string, bool)) error {
	getenv := func(name string) string {
		v, _ := lookupEnv(name)
		return strings.TrimSpace(v)
	}
	for _, st := range settings {
		for _, env := range st.env {
			if v := getenv(env.name); v != "" {
				if err := env.bind.set(s, v); err != nil {
					return fmt.Errorf("%s=%w", env.name, err)
				}
			}
		}
	}
	for _, prefix := range []string{"OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_METRICS_"} {
		if v := getenv(prefix + "TIMEOUT"); v != "" {
			if ms, err := strconv.ParseUint(v, 10, 63); err != nil || time.Duration(ms)*time.Millisecond <= 0 {
				return fmt.Errorf("%sTIMEOUT=%q: want a positive number of milliseconds", prefix, v)
			}
		}
		if v := getenv(prefix + "INSECURE"); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%sINSECURE=%q: want true or false", prefix, v)
			}
		}
		if v := getenv(prefix + "COMPRESSION"); v != "" && v != "gzip" && v != "none" {
			return fmt.Errorf("%sCOMPRESSION=%q: want gzip or none", prefix, v)
		}
		if v := getenv(prefix + "HEADERS"); v != "" {
			if err := checkKeyValues(v); err != nil {
				return fmt.Errorf("%sHEADERS: %w", prefix, err)
			}
		}
	}
	if v := getenv("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		if err := checkKeyValues(v); err != nil {
			return fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
	}
	// The resource goes into every request, and OTLP refuses one with a string that is not UTF-8.
	if v := getenv("OTEL_SERVICE_NAME"); !utf8.ValidString(v) {
		return fmt.Errorf("OTEL_SERVICE_NAME=%q: not valid UTF-8", v)
	}
	return nil
}

// CheckEndpoint checks an OTLP gRPC endpoint URL: http (plaintext) or https, with a host.
func CheckEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("want a URL such as %s (http for plaintext gRPC, https for TLS)", DefaultEndpoint)
	}
	return nil
}

// checkKeyValues checks the W3C-baggage-like list "k1=v1,k2=v2" both headers and resource
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
