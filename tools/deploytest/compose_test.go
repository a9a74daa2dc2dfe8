package deploytest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/mod/modfile"
	"sigs.k8s.io/yaml"
)

// jaegerModuleToImage maps the Go module version tools/jaeger builds to the
// Jaeger v2 container release of the same source (see Jaeger's CHANGELOG:
// "v1.76.0 / v2.13.0"). Bump both together.
var jaegerModuleToImage = map[string]string{
	"v1.76.0": "2.13.0",
}

// loadCompose loads docker-compose.yml the way `docker compose
// [--profile P...] config` does, with interpolation, normalization and the
// consistency checks (e.g. depends_on naming real services). The process
// environment is deliberately not used, so results do not depend on the
// caller's shell.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("loading docker-compose.yml (profiles %v): %v", profiles, err)
	}
	return p
}

func mustService(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q missing or not enabled (profiles %v); enabled: %v", name, p.Profiles, p.ServiceNames())
	}
	return s
}

func imageRepoTag(image string) (repo, tag string) {
	// No registry with a port in our images, so the last ':' separates the tag.
	if i := strings.LastIndex(image, ":"); i >= 0 {
		return image[:i], image[i+1:]
	}
	return image, ""
}

func TestComposeServicesAndProfiles(t *testing.T) {
	def := loadCompose(t)
	if got, want := def.ServiceNames(), []string{"jaeger", "kretspan"}; !slices.Equal(got, want) {
		t.Errorf("default profile services = %v, want %v", got, want)
	}
	for _, name := range []string{"tempo", "grafana", "kretspan-tempo"} {
		if _, ok := def.DisabledServices[name]; !ok {
			t.Errorf("service %q should exist but be disabled without the tempo profile", name)
		}
	}

	tp := loadCompose(t, "tempo")
	want := []string{"grafana", "jaeger", "kretspan", "kretspan-tempo", "tempo"}
	if got := tp.ServiceNames(); !slices.Equal(got, want) {
		t.Errorf("profile tempo services = %v, want %v", got, want)
	}
	for _, name := range []string{"tempo", "grafana", "kretspan-tempo"} {
		if s := mustService(t, tp, name); !slices.Equal(s.Profiles, []string{"tempo"}) {
			t.Errorf("service %q profiles = %v, want [tempo]", name, s.Profiles)
		}
	}
}

func TestComposePortsOnLoopbackOnly(t *testing.T) {
	p := loadCompose(t, "tempo")
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes container port %d on %q; publish on 127.0.0.1 only",
					s.Name, port.Target, port.HostIP)
			}
		}
	}

	jaeger := mustService(t, p, "jaeger")
	published := map[uint32]string{}
	for _, port := range jaeger.Ports {
		published[port.Target] = port.HostIP + ":" + port.Published
	}
	for _, target := range []uint32{16686, 4317} {
		if got, want := published[target], "127.0.0.1:"+strconv.FormatUint(uint64(target), 10); got != want {
			t.Errorf("jaeger port %d published as %q, want %q", target, got, want)
		}
	}
}

func TestComposeJaegerImageMatchesTool(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "tools", "jaeger", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("tools/jaeger/go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var modVersion string
	for _, r := range mf.Require {
		if r.Mod.Path == "github.com/jaegertracing/jaeger" {
			modVersion = r.Mod.Version
		}
	}
	imageTag, ok := jaegerModuleToImage[modVersion]
	if !ok {
		t.Fatalf("tools/jaeger/go.mod requires jaeger %q; add its v2 image tag to jaegerModuleToImage", modVersion)
	}
	jaeger := mustService(t, loadCompose(t), "jaeger")
	repo, tag := imageRepoTag(jaeger.Image)
	if repo != "jaegertracing/jaeger" || tag != imageTag {
		t.Errorf("jaeger image = %q, want jaegertracing/jaeger:%s (the release of module %s)", jaeger.Image, imageTag, modVersion)
	}
}

// kretspanServices are the services built from the repository's Dockerfile.
func kretspanServices(t *testing.T, p *types.Project) []types.ServiceConfig {
	t.Helper()
	root := repoRoot(t)
	var out []types.ServiceConfig
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build != nil && filepath.Clean(s.Build.Context) == root {
			out = append(out, s)
		}
	}
	return out
}

func TestComposeKretspanPrivilegesAndMounts(t *testing.T) {
	p := loadCompose(t, "tempo")
	services := kretspanServices(t, p)
	var names []string
	for _, s := range services {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"kretspan", "kretspan-tempo"}) {
		t.Fatalf("services built from the root Dockerfile = %v, want [kretspan kretspan-tempo]", names)
	}

	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			dockerfile := s.Build.Dockerfile
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(s.Build.Context, dockerfile)); err != nil {
				t.Errorf("build: %v", err)
			}
			if !s.Privileged {
				t.Error("not privileged")
			}
			if s.Pid != "host" {
				t.Errorf("pid = %q, want host", s.Pid)
			}
			if len(s.Command) == 0 || strings.HasPrefix(s.Command[len(s.Command)-1], "-") {
				t.Errorf("command %q does not end with a probe spec", s.Command)
			}
			if v, _ := flagValue(s.Command, "exporter"); v != "otlp" {
				t.Errorf("command %q: want --exporter otlp", s.Command)
			}

			mounts := map[string]types.ServiceVolumeConfig{}
			for _, v := range s.Volumes {
				mounts[v.Target] = v
			}
			for _, path := range []string{"/sys/kernel/debug", "/sys/kernel/tracing", "/sys/fs/bpf", "/sys/kernel/btf/vmlinux"} {
				v, ok := mounts[path]
				if !ok {
					t.Errorf("no mount at %s", path)
					continue
				}
				if v.Type != types.VolumeTypeBind || v.Source != path {
					t.Errorf("mount at %s: type %q source %q; want a bind mount of the host's %s", path, v.Type, v.Source, path)
				}
			}
			if v := mounts["/sys/kernel/btf/vmlinux"]; !v.ReadOnly {
				t.Error("/sys/kernel/btf/vmlinux is not mounted read-only")
			}
			if v := mounts["/sys/fs/bpf"]; v.Bind == nil || !strings.Contains(v.Bind.Propagation, "shared") {
				t.Error("/sys/fs/bpf: want bind propagation shared/rshared so pins are visible outside the container")
			}
		})
	}
}

// otlpGRPCPort returns the port on which a back-end service accepts OTLP gRPC
// from other containers, derived from its image and configuration, or 0.
func otlpGRPCPort(t *testing.T, s types.ServiceConfig) int {
	t.Helper()
	repo, _ := imageRepoTag(s.Image)
	switch repo {
	case "jaegertracing/jaeger":
		// Built-in all-in-one config: OTLP gRPC on ${JAEGER_LISTEN_HOST}:4317,
		// and the image sets JAEGER_LISTEN_HOST=0.0.0.0. Both stop holding if
		// the service brings its own config or overrides the host.
		if len(s.Command) != 0 {
			t.Fatalf("service %s: custom jaeger command %q; teach otlpGRPCPort to read its config", s.Name, s.Command)
		}
		if h := s.Environment["JAEGER_LISTEN_HOST"]; h != nil && *h != "0.0.0.0" {
			t.Errorf("service %s: JAEGER_LISTEN_HOST=%s makes OTLP unreachable from other containers", s.Name, *h)
		}
		return 4317
	case "grafana/tempo":
		cfg := tempoConfig(t, s)
		addr := digString(cfg, "distributor", "receivers", "otlp", "protocols", "grpc", "endpoint")
		if addr == "" {
			t.Fatalf("service %s: tempo config has no distributor.receivers.otlp.protocols.grpc.endpoint", s.Name)
		}
		return listenPort(t, s.Name+" OTLP gRPC receiver", addr)
	}
	return 0
}

// tempoConfig reads the Tempo config file that the service's -config.file
// flag names, through the bind mount that provides it.
func tempoConfig(t *testing.T, s types.ServiceConfig) map[string]any {
	t.Helper()
	path, ok := flagValue(s.Command, "config.file")
	if !ok {
		t.Fatalf("service %s: command %q has no -config.file", s.Name, s.Command)
	}
	host := hostPathFor(t, s, path)
	data, err := os.ReadFile(host)
	if err != nil {
		t.Fatalf("service %s: %v", s.Name, err)
	}
	return readYAMLMap(t, host, data)
}

// hostPathFor maps a container path to the host path of the bind mount that
// provides it.
func hostPathFor(t *testing.T, s types.ServiceConfig, containerPath string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if rel, err := filepath.Rel(v.Target, containerPath); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join(v.Source, rel)
		}
	}
	t.Fatalf("service %s: no bind mount provides %s", s.Name, containerPath)
	return ""
}

func TestComposeOTLPEndpoints(t *testing.T) {
	for _, profiles := range [][]string{nil, {"tempo"}} {
		p := loadCompose(t, profiles...)
		for _, s := range kretspanServices(t, p) {
			endpoint := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
			if endpoint == nil || *endpoint == "" {
				t.Errorf("service %s: OTEL_EXPORTER_OTLP_ENDPOINT not set", s.Name)
				continue
			}
			if _, ok := s.Environment["OTEL_SERVICE_NAME"]; ok {
				t.Errorf("service %s: OTEL_SERVICE_NAME is set: every span would carry that one service, not its process's", s.Name)
			}
			if !strings.HasPrefix(*endpoint, "http://") {
				t.Errorf("service %s: OTLP endpoint %q: the back ends speak plaintext gRPC, use http://", s.Name, *endpoint)
			}
			host, port := otlpEndpoint(t, s.Name, *endpoint)
			backend, ok := p.Services[host]
			if !ok {
				t.Errorf("service %s (profiles %v): OTLP endpoint host %q is not an enabled service", s.Name, profiles, host)
				continue
			}
			if _, ok := s.DependsOn[host]; !ok {
				t.Errorf("service %s: exports to %s but does not depend_on it", s.Name, host)
			}
			if got := otlpGRPCPort(t, backend); got != port {
				t.Errorf("service %s: exports to %s:%d, but %s accepts OTLP gRPC on port %d", s.Name, host, port, host, got)
			}
		}
	}
}

func TestComposeTempoAndGrafana(t *testing.T) {
	p := loadCompose(t, "tempo")
	tempo := mustService(t, p, "tempo")
	tempoCfg := tempoConfig(t, tempo)
	httpPort, _ := dig(tempoCfg, "server", "http_listen_port")
	tempoHTTP, ok := httpPort.(float64)
	if !ok || tempoHTTP <= 0 {
		t.Fatalf("tempo config: server.http_listen_port = %v", httpPort)
	}
	if digString(tempoCfg, "storage", "trace", "backend") == "" {
		t.Error("tempo config: no storage.trace.backend")
	}
	// Tempo's storage paths must be on a writable mount.
	for _, key := range [][]string{{"storage", "trace", "wal", "path"}, {"storage", "trace", "local", "path"}} {
		path := digString(tempoCfg, key...)
		if path == "" {
			continue
		}
		found := false
		for _, v := range tempo.Volumes {
			if rel, err := filepath.Rel(v.Target, path); err == nil && !strings.HasPrefix(rel, "..") && !v.ReadOnly {
				found = true
			}
		}
		if !found {
			t.Errorf("tempo: %s=%s is not on a writable volume", strings.Join(key, "."), path)
		}
	}

	grafana := mustService(t, p, "grafana")
	if repo, _ := imageRepoTag(grafana.Image); repo != "grafana/grafana" {
		t.Errorf("grafana image = %q", grafana.Image)
	}
	env := func(k string) string {
		if v := grafana.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env("GF_AUTH_ANONYMOUS_ENABLED") != "true" || env("GF_AUTH_ANONYMOUS_ORG_ROLE") != "Admin" {
		t.Errorf("grafana: want anonymous admin (GF_AUTH_ANONYMOUS_ENABLED=true, GF_AUTH_ANONYMOUS_ORG_ROLE=Admin)")
	}
	if _, ok := grafana.DependsOn["tempo"]; !ok {
		t.Error("grafana does not depend_on tempo")
	}

	dir := hostPathFor(t, grafana, "/etc/grafana/provisioning/datasources")
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no data source provisioning files in %s (%v)", dir, err)
	}
	var tempoSources int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var prov struct {
			APIVersion  int `json:"apiVersion"`
			Datasources []struct {
				Name   string `json:"name"`
				Type   string `json:"type"`
				UID    string `json:"uid"`
				Access string `json:"access"`
				URL    string `json:"url"`
			} `json:"datasources"`
		}
		if err := yaml.Unmarshal(data, &prov); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if prov.APIVersion != 1 {
			t.Errorf("%s: apiVersion = %d, want 1", f, prov.APIVersion)
		}
		for _, ds := range prov.Datasources {
			if ds.Type != "tempo" {
				continue
			}
			tempoSources++
			if ds.Name == "" || ds.UID == "" {
				t.Errorf("%s: tempo data source needs a name and a uid", f)
			}
			if ds.Access != "proxy" {
				t.Errorf("%s: tempo data source access = %q; Grafana's server must fetch from the compose network, want proxy", f, ds.Access)
			}
			host, port := otlpEndpoint(t, f+" url", ds.URL) // http://host:port
			if host != tempo.Name {
				t.Errorf("%s: tempo data source url %q: host %q is not the tempo service", f, ds.URL, host)
			}
			if port != int(tempoHTTP) {
				t.Errorf("%s: tempo data source url %q: tempo serves its API on %d", f, ds.URL, int(tempoHTTP))
			}
		}
	}
	if tempoSources != 1 {
		t.Errorf("found %d tempo data sources in %s, want 1", tempoSources, dir)
	}
}
