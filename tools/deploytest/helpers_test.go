package deploytest

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// repoRoot returns the kretspan repository root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root := os.Getenv("KRETSPAN_REPO_ROOT")
	if root == "" {
		root = filepath.Join("..", "..")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "docker-compose.yml")); err != nil {
		t.Fatalf("%s does not look like the kretspan repository root: %v", root, err)
	}
	return root
}

// readYAMLMap parses a YAML file (or document) into a generic map.
func readYAMLMap(t *testing.T, what string, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if m == nil {
		t.Fatalf("%s: empty YAML document", what)
	}
	return m
}

// dig walks nested maps: dig(m, "a", "b") is m["a"]["b"]. ok is false when a
// key is missing or an intermediate value is not a map. A key that is present
// with an empty value (YAML `grpc:`) yields (nil, true).
func dig(m map[string]any, keys ...string) (any, bool) {
	var cur any = m
	for _, k := range keys {
		mm, isMap := cur.(map[string]any)
		if !isMap {
			return nil, false
		}
		v, present := mm[k]
		if !present {
			return nil, false
		}
		cur = v
	}
	return cur, true
}

func digString(m map[string]any, keys ...string) string {
	v, _ := dig(m, keys...)
	s, _ := v.(string)
	return s
}

func digMap(m map[string]any, keys ...string) map[string]any {
	v, _ := dig(m, keys...)
	mm, _ := v.(map[string]any)
	return mm
}

func digStrings(m map[string]any, keys ...string) []string {
	v, _ := dig(m, keys...)
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// otlpEndpoint parses an OTLP gRPC endpoint as otlptracegrpc and the
// collector's otlp exporter accept it: a URL (http://host:port) or host:port.
func otlpEndpoint(t *testing.T, what, endpoint string) (host string, port int) {
	t.Helper()
	hostport := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatalf("%s: bad OTLP endpoint %q: %v", what, endpoint, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("%s: OTLP endpoint %q: scheme must be http or https", what, endpoint)
		}
		if u.Path != "" && u.Path != "/" {
			t.Errorf("%s: OTLP gRPC endpoint %q has a path; gRPC ignores it", what, endpoint)
		}
		hostport = u.Host
	}
	return splitHostPort(t, what, hostport)
}

func splitHostPort(t *testing.T, what, hostport string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", what, hostport, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		t.Fatalf("%s: bad port in %q", what, hostport)
	}
	return host, port
}

// listenPort returns the port of a server listen address (host:port) and
// fails if the host is loopback-only, which other containers/pods cannot
// reach.
func listenPort(t *testing.T, what, addr string) int {
	t.Helper()
	host, port := splitHostPort(t, what, addr)
	if host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1" {
		t.Errorf("%s: listens on %s, unreachable from other containers; bind 0.0.0.0", what, addr)
	}
	return port
}

// flagValue finds -name=value / --name=value / -name value in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		trimmed := strings.TrimLeft(a, "-")
		if trimmed == a {
			continue // not a flag
		}
		if v, ok := strings.CutPrefix(trimmed, name+"="); ok {
			return v, true
		}
		if trimmed == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func containsAll(have []string, want ...string) []string {
	var missing []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			missing = append(missing, w)
		}
	}
	return missing
}
