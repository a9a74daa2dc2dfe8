package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kretspan/kretspan/internal/testprocess"
)

// Many users run kretspan into an OpenTelemetry Collector rather than straight into a backend.
// These tests run the Collector that tools/otelcol builds from the published collector modules.

// collectorBinary is the Collector that tools/otelcol/build.sh builds.
func collectorBinary(t *testing.T) string {
	t.Helper()
	return backendBinary(t, backendCollector)
}

// collectorProcess is a running Collector.
type collectorProcess struct {
	cmd    *exec.Cmd
	log    testprocess.SyncBuffer
	exited chan struct{}
	err    error
}

// startCollector runs the Collector with config and waits until it says every component has
// started; t.Cleanup stops it.
func startCollector(t *testing.T, bin, config string) *collectorProcess {
	t.Helper()
	path := filepath.Join(t.TempDir(), "otelcol.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &collectorProcess{cmd: exec.Command(bin, "--config="+path), exited: make(chan struct{})}
	c.cmd.Stdout = &c.log
	c.cmd.Stderr = &c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("the Collector did not exit within 15s of SIGTERM; killing it")
			c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("Collector log:\n%s", c.log.String())
		}
	})
	// The service logs this once every exporter, processor and receiver has started, that is
	// once both OTLP listeners are bound.
	const ready = "Everything is ready. Begin running and processing data."
	start := time.Now()
	for !strings.Contains(c.log.String(), ready) {
		select {
		case <-c.exited:
			t.Fatalf("the Collector exited (%v) before it was ready:\n%s", c.err, c.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("the Collector was not ready within 2 minutes:\n%s", c.log.String())
		}
	}
	t.Logf("the Collector was ready in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// collectorToJaegerConfig is a Collector between kretspan and Jaeger: spans go batched to Jaeger
// over OTLP gRPC, and to the debug exporter, which writes what the Collector received to
// debugPath; metrics go to the Prometheus exporter. Everything listens on loopback, and the Collector's own
// metrics are off: by default they are served on the fixed port 8888.
func collectorToJaegerConfig(grpcPort, httpPort, promPort int, jaegerOTLP, debugPath string) string {
	return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
      http:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 200ms
exporters:
  otlp_grpc/jaeger:
    endpoint: %s
    tls:
      insecure: true
  debug:
    verbosity: detailed
    use_internal_logger: false
    output_paths: [%q]
  prometheus:
    endpoint: 127.0.0.1:%d
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp_grpc/jaeger, debug]
    metrics:
      receivers: [otlp]
      processors: [batch]
      exporters: [prometheus]
`, grpcPort, httpPort, jaegerOTLP, debugPath, promPort)
}

// TestKretspanThroughCollectorToJaeger traces the nested workload into a real Collector, once
// over each OTLP protocol the Collector receives, and checks that Jaeger behind it holds the
// same traces a direct export gives (checkTraces: ids, parent links, attributes, times against
// the workload's clock), with the very ids the Collector received, and that kretspan's metrics
// come out of the Collector's Prometheus exporter.
func TestKretspanThroughCollectorToJaeger(t *testing.T) {
	requireRoot(t)
	otelcolBin := collectorBinary(t)
	jaegerBin := jaegerBinary(t)
	kretspanBin, nestedBin := build(t)
	assets, _ := uiAssets(t)
	j := startJaeger(t, jaegerBin, assets)

	ports := freePorts(t, 3)
	grpcPort, httpPort, promPort := ports[0], ports[1], ports[2]
	debugPath := filepath.Join(t.TempDir(), "debug-exporter.txt")
	startCollector(t, otelcolBin,
		collectorToJaegerConfig(grpcPort, httpPort, promPort, strings.TrimPrefix(j.otlpEndpoint, "http://"), debugPath))

	for _, tc := range []struct {
		protocol, endpoint, readyDestination string
	}{
		{"grpc", fmt.Sprintf("http://127.0.0.1:%d", grpcPort), fmt.Sprintf("OTLP grpc http://127.0.0.1:%d", grpcPort)},
		{"http/protobuf", fmt.Sprintf("http://127.0.0.1:%d", httpPort), fmt.Sprintf("OTLP http/protobuf http://127.0.0.1:%d/v1/traces", httpPort)},
	} {
		t.Run(strings.ReplaceAll(tc.protocol, "/", "_"), func(t *testing.T) {
			service := fmt.Sprintf("kretspan-otelcol-%s-%d-%d", strings.ReplaceAll(tc.protocol, "/", ""), os.Getpid(), time.Now().UnixNano())
			w := testprocess.StartWorkload(t, nestedBin, strconv.Itoa(workloadCalls), strconv.Itoa(workloadMs))
			k := testprocess.StartKretspan(t, kretspanBin,
				[]string{"OTEL_SERVICE_NAME=" + service, "OTEL_RESOURCE_ATTRIBUTES=deployment.environment=e2e"},
				"--otlp-endpoint", tc.endpoint, "--otlp-protocol", tc.protocol,
				"--pid", strconv.FormatInt(w.PID, 10), "--batch-timeout", "50ms",
				"uprobe:"+nestedBin+":outer", "uprobe:"+nestedBin+":inner", "syscall:clock_nanosleep")
			made := w.Run(t)
			if len(made) != workloadCalls {
				t.Fatalf("the workload made %d calls, want %d", len(made), workloadCalls)
			}
			k.Stop(t)
			t.Logf("kretspan:\n%s", k.Stderr())
			if want := "exporting to " + tc.readyDestination + "."; !strings.Contains(k.Stderr(), want) {
				t.Errorf("kretspan's output lacks %q", want)
			}
			if _, exported, dropped, failed := k.UserSpace(t); exported != workloadSpans || dropped != 0 || failed != 0 {
				t.Errorf("kretspan exported %d spans (dropped %d, failed %d), want %d exported and none lost", exported, dropped, failed, workloadSpans)
			}

			// The Collector batches for up to 200ms and retries Jaeger; a loaded machine is slow.
			traces := j.waitForWorkloadTraces(t, service, 90*time.Second, time.Second, "")
			checkTraces(t, traces, made, w, service, nestedBin)

			// Jaeger's ids, parents and names are the ones the Collector received from kretspan.
			var inJaeger []string
			for _, tr := range traces {
				for _, s := range tr.Spans {
					parent := ""
					if len(s.References) == 1 {
						parent = s.References[0].SpanID
					}
					inJaeger = append(inJaeger, spanKey(s.TraceID, s.SpanID, parent, s.OperationName))
				}
			}
			// The debug exporter has a queue of its own, so it may write after Jaeger has them.
			var received []string
			for deadline := time.Now().Add(30 * time.Second); len(received) < workloadSpans && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				debugOut, err := os.ReadFile(debugPath)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				received = debugExporterSpans(string(debugOut), service)
			}
			sort.Strings(inJaeger)
			sort.Strings(received)
			if strings.Join(inJaeger, "\n") != strings.Join(received, "\n") {
				t.Errorf("Jaeger's spans differ from those the Collector received.\nJaeger (trace span parent name):\n%s\nCollector:\n%s",
					strings.Join(inJaeger, "\n"), strings.Join(received, "\n"))
			}

			// kretspan's final metrics export went through the Collector's metrics pipeline:
			// the ledger counts each outer call as submitted.
			checkPrometheusCalls(t, promPort, service, "uprobe:"+nestedBin+":outer", workloadCalls)
		})
	}
}

func spanKey(traceID, spanID, parentID, name string) string {
	return strings.Join([]string{traceID, spanID, parentID, name}, " ")
}

// debugExporterSpans reads the spans of service from the debug exporter's detailed output
// (exporter/debugexporter/internal/otlptext): a "Resource attributes:" block with
// "-> service.name: Str(NAME)", then per span "Trace ID", "Parent ID", "ID" and "Name" lines.
func debugExporterSpans(log, service string) []string {
	field := regexp.MustCompile(`^\s+(Trace ID|Parent ID|ID|Name)\s*: ?(.*)$`)
	var spans []string
	var cur map[string]string
	inService := false
	flush := func() {
		if cur != nil && inService {
			spans = append(spans, spanKey(cur["Trace ID"], cur["ID"], cur["Parent ID"], cur["Name"]))
		}
		cur = nil
	}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "ResourceSpans #"):
			flush()
			inService = false
		case strings.Contains(line, "-> service.name: Str("):
			name := line[strings.Index(line, "Str(")+4:]
			inService = strings.TrimSuffix(name, ")") == service
		case strings.HasPrefix(line, "Span #"):
			flush()
			cur = map[string]string{}
		case cur != nil:
			if m := field.FindStringSubmatch(line); m != nil {
				if _, seen := cur[m[1]]; !seen {
					cur[m[1]] = strings.TrimSpace(m[2])
				}
			}
		}
	}
	flush()
	return spans
}

// checkPrometheusCalls polls the Collector's Prometheus exporter until kretspan.calls shows want
// submitted calls of target for service (the exporter names the job after service.name).
func checkPrometheusCalls(t *testing.T, port int, service, target string, want int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for {
		body, err := get(url)
		if err != nil {
			last = err.Error()
		} else {
			last = body
			for _, line := range strings.Split(body, "\n") {
				if !strings.HasPrefix(line, "kretspan_calls") || strings.HasPrefix(line, "kretspan_calls_in_flight") ||
					!strings.Contains(line, `job="`+service+`"`) ||
					!strings.Contains(line, `kretspan_probe_target="`+target+`"`) ||
					!strings.Contains(line, `kretspan_outcome="submitted"`) {
					continue
				}
				fields := strings.Fields(line)
				if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil && v == float64(want) {
					t.Logf("Prometheus exporter: %s", line)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("the Collector's Prometheus exporter shows no kretspan_calls{job=%q, kretspan_probe_target=%q, kretspan_outcome=\"submitted\"} = %d within 60s; last scrape:\n%s",
				service, target, want, last)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// shippedCollectorConfigs finds every Collector config under examples/ and deploy/: a YAML
// document, or a string in a Kubernetes ConfigMap's data, whose top level has receivers,
// exporters and service (Tempo's config also has a "receivers" key, but under distributor).
// The name says where it came from (a ConfigMap's string by the ConfigMap's name and key, a
// document by its position in the file); the text is the config itself.
func shippedCollectorConfigs(t *testing.T) map[string]string {
	t.Helper()
	root := repoRoot(t)
	configs := map[string]string{}
	add := func(name, text string) error {
		if _, ok := configs[name]; ok {
			return fmt.Errorf("two Collector configs are named %s", name)
		}
		configs[name] = text
		return nil
	}
	isCollectorConfig := func(doc map[string]any) bool {
		_, r := doc["receivers"]
		_, e := doc["exporters"]
		_, s := doc["service"]
		return r && e && s
	}
	for _, top := range []string{"examples", "deploy"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			dec := yaml.NewDecoder(f)
			for i := 0; ; i++ {
				var node yaml.Node
				if err := dec.Decode(&node); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				var doc map[string]any
				if node.Decode(&doc) != nil {
					continue // not a mapping
				}
				if isCollectorConfig(doc) {
					text, err := yaml.Marshal(&node)
					if err != nil {
						return err
					}
					if err := add(fmt.Sprintf("%s#%d", rel, i), string(text)); err != nil {
						return err
					}
				}
				if doc["kind"] != "ConfigMap" {
					continue
				}
				configMap := fmt.Sprintf("%s#%d", rel, i)
				if metadata, _ := doc["metadata"].(map[string]any); metadata["name"] != nil {
					configMap = fmt.Sprintf("%s ConfigMap %v", rel, metadata["name"])
				}
				data, _ := doc["data"].(map[string]any)
				for key, v := range data {
					text, ok := v.(string)
					var inner map[string]any
					if ok && yaml.Unmarshal([]byte(text), &inner) == nil && isCollectorConfig(inner) {
						if err := add(fmt.Sprintf("%s data.%s", configMap, key), text); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return configs
}

// unbuiltProcessors are the processors that shipped configs use and the Collector tools/otelcol
// builds lacks (its README says why: k8sattributes needs an otel release the Go module proxy does
// not serve). Validation takes them out of a config first, so their own settings go unchecked.
var unbuiltProcessors = []string{"k8sattributes"}

// withoutUnbuiltProcessors returns config without the unbuilt processors, in its processors
// section and its pipelines, and the ids it took out.
func withoutUnbuiltProcessors(t *testing.T, config string) (string, []string) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	unbuilt := func(id string) bool {
		typ, _, _ := strings.Cut(id, "/")
		return slices.Contains(unbuiltProcessors, typ)
	}
	var removed []string
	processors, _ := doc["processors"].(map[string]any)
	for id := range processors {
		if unbuilt(id) {
			delete(processors, id)
			removed = append(removed, id)
		}
	}
	service, _ := doc["service"].(map[string]any)
	pipelines, _ := service["pipelines"].(map[string]any)
	for _, p := range pipelines {
		pipeline, _ := p.(map[string]any)
		if list, ok := pipeline["processors"].([]any); ok {
			pipeline["processors"] = slices.DeleteFunc(list, func(id any) bool { return unbuilt(fmt.Sprint(id)) })
		}
	}
	if len(removed) == 0 {
		return config, nil
	}
	text, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(text), removed
}

// validate runs `otelcol validate` on config, which resolves it, checks every component named
// exists in this build and checks each component's settings, without starting anything.
func validate(t *testing.T, bin, name, config string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "validate", "--config="+path).CombinedOutput()
	t.Logf("otelcol validate %s: %v\n%s", name, err, out)
	return string(out), err
}

// TestExampleCollectorConfigsLoad checks that every Collector config kretspan ships loads in a
// real Collector, and that the Collector does refuse a config it cannot run, so that a pass means
// something.
func TestExampleCollectorConfigsLoad(t *testing.T) {
	bin := collectorBinary(t)
	configs := shippedCollectorConfigs(t)
	// The Kubernetes example's ConfigMap must be among them: if the search misses it, it would
	// miss others too.
	const k8sExample = "examples/kubernetes/otel-collector.yaml ConfigMap otel-collector-config data.config.yaml"
	if _, ok := configs[k8sExample]; !ok {
		names := make([]string, 0, len(configs))
		for name := range configs {
			names = append(names, name)
		}
		t.Fatalf("found Collector configs %q, want %q among them", names, k8sExample)
	}
	names := make([]string, 0, len(configs))
	for name := range configs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		config, removed := withoutUnbuiltProcessors(t, configs[name])
		t.Run(name, func(t *testing.T) {
			if len(removed) > 0 {
				t.Logf("validating without %q, which this Collector build lacks", removed)
			}
			if _, err := validate(t, bin, name, config); err != nil {
				t.Errorf("the Collector refuses %s: %v", name, err)
			}
		})
	}

	// The same config with a component this build lacks, and with a setting the batch processor
	// does not have: validate must refuse both, and say why.
	base := configs[k8sExample]
	for _, tc := range []struct {
		name    string
		edits   []string // old, new, old, new, ...
		because string   // what validate's message must name
	}{
		{"unknown exporter", []string{
			"\nexporters:\n", "\nexporters:\n  zipkin:\n    endpoint: http://127.0.0.1:9411/api/v2/spans\n",
			"exporters: [otlp/tempo]", "exporters: [otlp/tempo, zipkin]",
		}, `"zipkin"`},
		{"unknown setting", []string{"\n  batch:\n", "\n  batch:\n    no_such_setting: 1\n"}, "no_such_setting"},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			broken := base
			for i := 0; i < len(tc.edits); i += 2 {
				edited := strings.Replace(broken, tc.edits[i], tc.edits[i+1], 1)
				if edited == broken {
					t.Fatalf("%s no longer contains %q to break it with", k8sExample, tc.edits[i])
				}
				broken = edited
			}
			broken, _ = withoutUnbuiltProcessors(t, broken)
			out, err := validate(t, bin, tc.name, broken)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("validate accepted a config with an %s (err %v)", tc.name, err)
			}
			if !strings.Contains(out, tc.because) {
				t.Errorf("validate refused the config but does not name %s:\n%s", tc.because, out)
			}
		})
	}
}
