package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kretspan/kretspan/exporter"
)

// applyEnvironment applies the settings' OTEL_* variables, resolves the OTLP client variables
// of each signal, and checks the resource's. The SDK logs a malformed value and falls back to its
// default, which would send data somewhere the user did not ask for; kretspan refuses instead. As
// the OpenTelemetry specification asks, an empty (or blank) variable is as if unset.
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
	if err := resolveClients(s, getenv); err != nil {
		return err
	}
	if v := getenv("OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		if _, err := keyValues(v); err != nil {
			return fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
	}
	// The resource goes into every request, and OTLP refuses one with a string that is not UTF-8.
	if v := getenv("OTEL_SERVICE_NAME"); !utf8.ValidString(v) {
		return fmt.Errorf("OTEL_SERVICE_NAME=%q: not valid UTF-8", v)
	}
	return nil
}

// clientVars are the OTLP client's variables, by the end of their names: each is
// OTEL_EXPORTER_OTLP_<suffix> for every signal, and OTEL_EXPORTER_OTLP_TRACES_<suffix> or
// _METRICS_<suffix> for one. set checks a value and sets it in a signal's client.
var clientVars = []struct {
	suffix string
	pairs  bool // an error quotes the bad pair only, not the whole list, which may hold credentials
	set    func(c *exporter.OTLPClient, v string) error
}{
	{"HEADERS", true, func(c *exporter.OTLPClient, v string) error {
		pairs, err := keyValues(v)
		if err != nil {
			return err
		}
		// Lower-cased, as HTTP and gRPC ignore a name's case: a name given twice keeps its last value.
		c.Headers = make(map[string]string, len(pairs))
		for _, p := range pairs {
			c.Headers[strings.ToLower(p[0])] = p[1]
		}
		return nil
	}},
	{"COMPRESSION", false, func(c *exporter.OTLPClient, v string) error {
		if v != "gzip" && v != "none" {
			return errors.New("want gzip or none")
		}
		c.Gzip = v == "gzip"
		return nil
	}},
	{"TIMEOUT", false, func(c *exporter.OTLPClient, v string) error {
		ms, err := strconv.ParseUint(v, 10, 63)
		if err != nil || ms == 0 || ms > math.MaxInt64/uint64(time.Millisecond) {
			return errors.New("want a positive number of milliseconds")
		}
		c.Timeout = time.Duration(ms) * time.Millisecond
		return nil
	}},
	{"INSECURE", false, func(_ *exporter.OTLPClient, v string) error {
		if _, err := strconv.ParseBool(v); err != nil {
			return errors.New("want true or false")
		}
		return nil // the endpoint URL's scheme wins over it
	}},
	{"CERTIFICATE", false, func(c *exporter.OTLPClient, v string) error { c.Certificate = v; return nil }},
	{"CLIENT_CERTIFICATE", false, func(c *exporter.OTLPClient, v string) error { c.ClientCertificate = v; return nil }},
	{"CLIENT_KEY", false, func(c *exporter.OTLPClient, v string) error { c.ClientKey = v; return nil }},
}

// resolveClients sets each signal's client from clientVars, a signal's own variable over the
// general one, as the OpenTelemetry specification says. Every variable is checked, even one that
// another overrides, because otlptracegrpc and the metrics clients read them too.
func resolveClients(s *Settings, getenv func(string) string) error {
	scopes := []struct {
		prefix  string
		signals []*OTLPSignal
	}{ // the general variables first, so that a signal's own win
		{"OTEL_EXPORTER_OTLP_", []*OTLPSignal{&s.Traces, &s.Metrics}},
		{"OTEL_EXPORTER_OTLP_TRACES_", []*OTLPSignal{&s.Traces}},
		{"OTEL_EXPORTER_OTLP_METRICS_", []*OTLPSignal{&s.Metrics}},
	}
	for _, scope := range scopes {
		for _, cv := range clientVars {
			name := scope.prefix + cv.suffix
			v := getenv(name)
			if v == "" {
				continue
			}
			for _, signal := range scope.signals {
				if err := cv.set(&signal.Client, v); err != nil {
					if cv.pairs {
						return fmt.Errorf("%s: %w", name, err)
					}
					return fmt.Errorf("%s=%q: %w", name, v, err)
				}
			}
		}
	}
	// Half a client certificate is refused here: otlptracegrpc and the metrics clients would
	// silently present none, and the receiver refuse every export.
	for _, scope := range scopes[1:] {
		c := scope.signals[0].Client
		if (c.ClientCertificate == "") == (c.ClientKey == "") {
			continue
		}
		given, missing := "CLIENT_CERTIFICATE", "CLIENT_KEY"
		if c.ClientCertificate == "" {
			given, missing = missing, given
		}
		name := scope.prefix + given
		if getenv(name) == "" {
			name = scopes[0].prefix + given
		}
		return fmt.Errorf("%s is set without %s%s or %s%s: a client certificate goes with its key",
			name, scopes[0].prefix, missing, scope.prefix, missing)
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

// keyValues parses the W3C-baggage-like list "k1=v1,k2=v2" both headers and resource
// attributes use: keys trimmed, values trimmed and percent-decoded.
func keyValues(list string) ([][2]string, error) {
	var pairs [][2]string
	for _, pair := range strings.Split(list, ",") {
		key, value, ok := strings.Cut(pair, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("%q: want comma-separated key=value pairs", pair)
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%q: bad percent-encoding: %w", pair, err)
		}
		if !utf8.ValidString(key) || !utf8.ValidString(decoded) {
			return nil, fmt.Errorf("%q: not valid UTF-8 once decoded", pair)
		}
		pairs = append(pairs, [2]string{key, decoded})
	}
	return pairs, nil
}
