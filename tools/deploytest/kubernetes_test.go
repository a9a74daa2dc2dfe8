package deploytest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const k8sNamespace = "kretspan"

// manifests holds every object under examples/kubernetes, decoded into the
// real Kubernetes API types.
type manifests struct {
	namespaces  map[string]*corev1.Namespace
	daemonSets  map[string]*appsv1.DaemonSet
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap

	serviceAccounts     map[string]*corev1.ServiceAccount
	clusterRoles        map[string]*rbacv1.ClusterRole
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
}

// workload is a DaemonSet or Deployment, reduced to what the checks need.
type workload struct {
	kind, name string
	template   *corev1.PodTemplateSpec
}

func (w workload) String() string { return w.kind + "/" + w.name }

// loadManifests decodes every YAML document in examples/kubernetes/*.yaml
// with a strict decoder (unknown or duplicate fields are errors) backed by a
// scheme that knows only core/v1, apps/v1 and rbac/v1: any other kind fails too.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "examples", "kubernetes")
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme,
		json.SerializerOptions{Yaml: true, Strict: true})

	m := &manifests{
		namespaces:  map[string]*corev1.Namespace{},
		daemonSets:  map[string]*appsv1.DaemonSet{},
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},

		serviceAccounts:     map[string]*corev1.ServiceAccount{},
		clusterRoles:        map[string]*rbacv1.ClusterRole{},
		clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
		for i := 1; ; i++ {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", file, i, err)
			}
			if isEmptyYAML(t, doc) {
				continue
			}
			where := fmt.Sprintf("%s: document %d", filepath.Base(file), i)
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			meta, ok := obj.(metav1.Object)
			if !ok {
				t.Fatalf("%s: %s has no object metadata", where, gvk)
			}
			if meta.GetName() == "" {
				t.Errorf("%s: %s without a name", where, gvk.Kind)
			}
			if !clusterScoped(obj) && meta.GetNamespace() != k8sNamespace {
				t.Errorf("%s: %s %q is in namespace %q, want %q", where, gvk.Kind, meta.GetName(), meta.GetNamespace(), k8sNamespace)
			}
			if !addObject(m, obj) {
				t.Errorf("%s: unexpected kind %s", where, gvk)
			}
		}
		f.Close()
	}
	if _, ok := m.namespaces[k8sNamespace]; !ok {
		t.Errorf("no Namespace %q manifest", k8sNamespace)
	}
	return m
}

func addObject(m *manifests, obj runtime.Object) bool {
	switch o := obj.(type) {
	case *corev1.Namespace:
		m.namespaces[o.Name] = o
	case *appsv1.DaemonSet:
		m.daemonSets[o.Name] = o
	case *appsv1.Deployment:
		m.deployments[o.Name] = o
	case *corev1.Service:
		m.services[o.Name] = o
	case *corev1.ConfigMap:
		m.configMaps[o.Name] = o
	case *corev1.ServiceAccount:
		m.serviceAccounts[o.Name] = o
	case *rbacv1.ClusterRole:
		m.clusterRoles[o.Name] = o
	case *rbacv1.ClusterRoleBinding:
		m.clusterRoleBindings[o.Name] = o
	default:
		return false
	}
	return true
}

// clusterScoped reports whether obj's kind belongs to no namespace.
func clusterScoped(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.Namespace, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding:
		return true
	}
	return false
}

// isEmptyYAML reports whether a document holds nothing but comments.
func isEmptyYAML(t *testing.T, doc []byte) bool {
	t.Helper()
	var v any
	if err := utilyaml.Unmarshal(bytes.TrimSpace(doc), &v); err != nil {
		return false // let the decoder report it
	}
	return v == nil
}

func (m *manifests) workloads() []workload {
	var out []workload
	for _, d := range m.daemonSets {
		out = append(out, workload{"DaemonSet", d.Name, &d.Spec.Template})
	}
	for _, d := range m.deployments {
		out = append(out, workload{"Deployment", d.Name, &d.Spec.Template})
	}
	slices.SortFunc(out, func(a, b workload) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// backend returns the single workload a Service selects.
func (m *manifests) backend(t *testing.T, svc *corev1.Service) workload {
	t.Helper()
	if len(svc.Spec.Selector) == 0 {
		t.Fatalf("Service %s has no selector", svc.Name)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var matched []workload
	for _, w := range m.workloads() {
		if sel.Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w)
		}
	}
	if len(matched) != 1 {
		t.Fatalf("Service %s selects %v, want exactly one workload", svc.Name, matched)
	}
	return matched[0]
}

// serviceByHost resolves an in-cluster DNS name (name, name.ns, name.ns.svc,
// name.ns.svc.cluster.local) used from namespace fromNS.
func (m *manifests) serviceByHost(t *testing.T, what, host, fromNS string) *corev1.Service {
	t.Helper()
	parts := strings.Split(host, ".")
	ns := fromNS
	if len(parts) > 1 {
		ns = parts[1]
	}
	if len(parts) > 2 && strings.Join(parts[2:], ".") != "svc" && strings.Join(parts[2:], ".") != "svc.cluster.local" {
		t.Fatalf("%s: %q is not a Service DNS name", what, host)
	}
	svc, ok := m.services[parts[0]]
	if !ok || svc.Namespace != ns {
		t.Fatalf("%s: host %q names no Service in these manifests", what, host)
	}
	return svc
}

// containerPortFor follows Service port -> targetPort -> the backend's
// container port, returning the container and the port number.
func (m *manifests) containerPortFor(t *testing.T, svc *corev1.Service, port int) (workload, *corev1.Container, int) {
	t.Helper()
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if int(svc.Spec.Ports[i].Port) == port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		t.Fatalf("Service %s has no port %d", svc.Name, port)
	}
	w := m.backend(t, svc)
	target := sp.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(sp.Port)
	}
	for i := range w.template.Spec.Containers {
		c := &w.template.Spec.Containers[i]
		for _, cp := range c.Ports {
			if (target.Type == intstr.String && cp.Name == target.StrVal) ||
				(target.Type == intstr.Int && cp.ContainerPort == target.IntVal) {
				return w, c, int(cp.ContainerPort)
			}
		}
	}
	t.Fatalf("Service %s port %d: targetPort %s matches no container port of %s", svc.Name, port, target.String(), w)
	return workload{}, nil, 0
}

// configFile returns the content of the file a container's flag (e.g.
// --config) names, following the volume mount back to its ConfigMap.
func (m *manifests) configFile(t *testing.T, w workload, c *corev1.Container, flag string) (string, string) {
	t.Helper()
	file, ok := flagValue(append(slices.Clone(c.Command), c.Args...), flag)
	if !ok {
		t.Fatalf("%s container %s: no -%s flag in %q", w, c.Name, flag, c.Args)
	}
	for _, vm := range c.VolumeMounts {
		var key string
		switch {
		case vm.SubPath != "" && vm.MountPath == file:
			key = vm.SubPath
		case vm.SubPath == "" && path.Dir(file) == path.Clean(vm.MountPath):
			key = path.Base(file)
		default:
			continue
		}
		for _, v := range w.template.Spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			if v.ConfigMap == nil {
				t.Fatalf("%s: %s is mounted from volume %s, which is not a ConfigMap", w, file, v.Name)
			}
			for _, item := range v.ConfigMap.Items {
				if item.Path == key {
					key = item.Key
				}
			}
			cm, ok := m.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("%s: volume %s uses ConfigMap %q, which is not in the manifests", w, v.Name, v.ConfigMap.Name)
			}
			data, ok := cm.Data[key]
			if !ok {
				t.Fatalf("%s: ConfigMap %s has no key %q (for %s)", w, cm.Name, key, file)
			}
			return data, "ConfigMap " + cm.Name + " key " + key
		}
		t.Fatalf("%s: volume mount %s has no volume", w, vm.Name)
	}
	t.Fatalf("%s container %s: no volume mount provides %s", w, c.Name, file)
	return "", ""
}

func TestKubernetesWorkloadsAndServices(t *testing.T) {
	m := loadManifests(t)
	for _, w := range m.workloads() {
		var sel *metav1.LabelSelector
		if d, ok := m.daemonSets[w.name]; ok && w.kind == "DaemonSet" {
			sel = d.Spec.Selector
		} else {
			sel = m.deployments[w.name].Spec.Selector
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(labels.Set(w.template.Labels)) {
			t.Errorf("%s: selector %v does not match its pod template labels %v (%v)", w, sel, w.template.Labels, err)
		}
	}
	for _, svc := range m.services {
		for _, p := range svc.Spec.Ports {
			m.containerPortFor(t, svc, int(p.Port)) // fails if unresolvable
		}
	}
	for _, name := range []string{"otel-collector", "tempo"} {
		if _, ok := m.services[name]; !ok {
			t.Errorf("no Service %q", name)
		}
		if _, ok := m.deployments[name]; !ok {
			t.Errorf("no Deployment %q", name)
		}
	}
}

func TestKubernetesDaemonSet(t *testing.T) {
	m := loadManifests(t)
	ds, ok := m.daemonSets["kretspan"]
	if !ok {
		t.Fatal("no DaemonSet kretspan")
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostPID {
		t.Error("hostPID is not set")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]

	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container is privileged; grant capabilities instead")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not set")
	}
	if sc.Capabilities == nil {
		t.Fatal("no capabilities")
	}
	var added []string
	for _, c := range sc.Capabilities.Add {
		added = append(added, string(c))
		if strings.HasPrefix(string(c), "CAP_") {
			t.Errorf("capability %q: Kubernetes names capabilities without the CAP_ prefix", c)
		}
	}
	if missing := containsAll(added, "BPF", "PERFMON", "SYS_RESOURCE"); len(missing) > 0 {
		t.Errorf("capabilities.add %v lacks %v", added, missing)
	}
	if slices.Contains(added, "SYS_ADMIN") {
		t.Error("SYS_ADMIN is added; it is only for kernels < 5.8 and should stay commented out by default")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("capabilities.drop should be [ALL]")
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
		if vm.MountPropagation != nil && *vm.MountPropagation == corev1.MountPropagationBidirectional {
			t.Errorf("mount %s: Bidirectional propagation is only allowed for privileged containers", vm.MountPath)
		}
	}
	for _, p := range []string{"/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/bpf", "/sys/kernel/btf"} {
		vm, ok := mounts[p]
		if !ok {
			t.Errorf("no volume mount at %s", p)
			continue
		}
		v, ok := volumes[vm.Name]
		if !ok || v.HostPath == nil || v.HostPath.Path != p {
			t.Errorf("mount %s: volume %q is not hostPath %s", p, vm.Name, p)
		}
	}
	if !mounts["/sys/kernel/btf"].ReadOnly {
		t.Error("/sys/kernel/btf should be mounted read-only")
	}

	// Environment: $(VAR) references only see variables defined earlier.
	envIndex := map[string]int{}
	for i, e := range c.Env {
		envIndex[e.Name] = i
	}
	get := func(name string) *corev1.EnvVar {
		i, ok := envIndex[name]
		if !ok {
			t.Fatalf("env %s is not set", name)
		}
		return &c.Env[i]
	}
	// Each process names its own service: a name set for kretspan would hold for every span.
	if _, ok := envIndex["OTEL_SERVICE_NAME"]; ok {
		t.Error("OTEL_SERVICE_NAME is set: every span would carry that one service, not its process's")
	}
	// The Downward API variables kretspan reads (otelbridge.DownwardAPI), each from its field.
	for name, field := range map[string]string{
		"K8S_NODE_NAME":      "spec.nodeName",
		"K8S_NAMESPACE_NAME": "metadata.namespace",
		"K8S_POD_NAME":       "metadata.name",
		"K8S_POD_UID":        "metadata.uid",
	} {
		if v := get(name); v.ValueFrom == nil || v.ValueFrom.FieldRef == nil || v.ValueFrom.FieldRef.FieldPath != field {
			t.Errorf("env %s does not come from the downward API field %s", name, field)
		}
	}

	// The OTLP endpoint names the collector Service, on a port that reaches
	// the collector's OTLP gRPC receiver.
	endpoint := get("OTEL_EXPORTER_OTLP_ENDPOINT").Value
	host, port := otlpEndpoint(t, "OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
	svc := m.serviceByHost(t, "OTEL_EXPORTER_OTLP_ENDPOINT", host, ds.Namespace)
	if svc.Name != "otel-collector" {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q points at Service %s, want otel-collector", endpoint, svc.Name)
	}
	w, collector, cport := m.containerPortFor(t, svc, port)
	cfg := collectorConfig(t, m, w, collector)
	addr := digString(cfg, "receivers", "otlp", "protocols", "grpc", "endpoint")
	if addr == "" {
		t.Fatalf("%s: no receivers.otlp.protocols.grpc.endpoint", w)
	}
	if got := listenPort(t, w.String()+" otlp grpc receiver", addr); got != cport {
		t.Errorf("%s: OTLP gRPC receiver listens on %d, but Service %s:%d forwards to container port %d", w, got, svc.Name, port, cport)
	}
}

func collectorConfig(t *testing.T, m *manifests, w workload, c *corev1.Container) map[string]any {
	t.Helper()
	data, where := m.configFile(t, w, c, "config")
	return readYAMLMap(t, where, []byte(data))
}

// componentType returns the type of a collector component ID ("otlp/tempo" -> "otlp").
func componentType(id string) string {
	typ, _, _ := strings.Cut(id, "/")
	return typ
}

// exampleCollector returns the manifests, the Collector's Deployment and its config.
func exampleCollector(t *testing.T) (*manifests, *appsv1.Deployment, map[string]any) {
	t.Helper()
	m := loadManifests(t)
	dep, ok := m.deployments["otel-collector"]
	if !ok {
		t.Fatal("no Deployment otel-collector")
	}
	w := workload{"Deployment", dep.Name, &dep.Spec.Template}
	return m, dep, collectorConfig(t, m, w, &dep.Spec.Template.Spec.Containers[0])
}

func TestKubernetesCollector(t *testing.T) {
	m, dep, cfg := exampleCollector(t)

	pipeline := digMap(cfg, "service", "pipelines", "traces")
	if pipeline == nil {
		t.Fatal("no service.pipelines.traces")
	}
	// Every component a pipeline names must be defined.
	for _, kind := range []string{"receivers", "processors", "exporters"} {
		for _, id := range digStrings(pipeline, kind) {
			if _, ok := dig(cfg, kind, id); !ok {
				t.Errorf("traces pipeline uses %s %q, which is not defined", kind, id)
			}
		}
	}
	if !slices.ContainsFunc(digStrings(pipeline, "receivers"), func(id string) bool { return componentType(id) == "otlp" }) {
		t.Error("traces pipeline has no otlp receiver")
	}
	if !slices.ContainsFunc(digStrings(pipeline, "processors"), func(id string) bool { return componentType(id) == "batch" }) {
		t.Error("traces pipeline has no batch processor")
	}

	var toTempo int
	for _, id := range digStrings(pipeline, "exporters") {
		if typ := componentType(id); typ != "otlp" && typ != "otlp_grpc" {
			continue
		}
		exp := digMap(cfg, "exporters", id)
		endpoint := digString(exp, "endpoint")
		if insecure, _ := dig(exp, "tls", "insecure"); insecure != true && !strings.HasPrefix(endpoint, "http://") {
			t.Errorf("exporter %s: Tempo's receiver is plaintext; set tls.insecure: true", id)
		}
		host, port := otlpEndpoint(t, "exporter "+id, endpoint)
		svc := m.serviceByHost(t, "exporter "+id, host, dep.Namespace)
		tw, tc, tport := m.containerPortFor(t, svc, port)
		if !strings.HasPrefix(tc.Image, "grafana/tempo:") {
			t.Errorf("exporter %s sends to Service %s, whose backend %s runs %s, not Tempo", id, svc.Name, tw, tc.Image)
			continue
		}
		data, where := m.configFile(t, tw, tc, "config.file")
		tcfg := readYAMLMap(t, where, []byte(data))
		addr := digString(tcfg, "distributor", "receivers", "otlp", "protocols", "grpc", "endpoint")
		if addr == "" {
			t.Fatalf("%s: tempo config has no distributor.receivers.otlp.protocols.grpc.endpoint", where)
		}
		if got := listenPort(t, where, addr); got != tport {
			t.Errorf("exporter %s: Service %s:%d forwards to container port %d, but Tempo's OTLP gRPC receiver listens on %d", id, svc.Name, port, tport, got)
		}
		toTempo++
	}
	if toTempo == 0 {
		t.Error("traces pipeline has no otlp exporter to the tempo Service")
	}
}

func TestKubernetesTempoStorageWritable(t *testing.T) {
	m := loadManifests(t)
	dep, ok := m.deployments["tempo"]
	if !ok {
		t.Fatal("no Deployment tempo")
	}
	w := workload{"Deployment", dep.Name, &dep.Spec.Template}
	c := &dep.Spec.Template.Spec.Containers[0]
	data, where := m.configFile(t, w, c, "config.file")
	cfg := readYAMLMap(t, where, []byte(data))
	for _, key := range [][]string{{"storage", "trace", "wal", "path"}, {"storage", "trace", "local", "path"}} {
		p := digString(cfg, key...)
		if p == "" {
			t.Errorf("%s: no %s", where, strings.Join(key, "."))
			continue
		}
		writable := false
		for _, vm := range c.VolumeMounts {
			if rel, err := filepath.Rel(vm.MountPath, p); err == nil && !strings.HasPrefix(rel, "..") && !vm.ReadOnly {
				writable = true
			}
		}
		if !writable {
			t.Errorf("tempo: %s=%s is not on a writable volume (the root file system is read-only)", strings.Join(key, "."), p)
		}
	}
}

// The Collector's k8sattributes processor finds each span's pod by the resource attributes
// kretspan sets on each process (k8s.pod.uid, container.id), and reads pods, namespaces and
// replicasets from the Kubernetes API: its ServiceAccount must be bound to a role that may.
func TestKubernetesCollectorMayLookUpPods(t *testing.T) {
	m, dep, cfg := exampleCollector(t)
	var k8sattributes string
	for _, id := range digStrings(cfg, "service", "pipelines", "traces", "processors") {
		if componentType(id) == "k8sattributes" {
			k8sattributes = id
		}
	}
	if k8sattributes == "" {
		t.Fatal("the traces pipeline has no k8sattributes processor")
	}
	processor := digMap(cfg, "processors", k8sattributes)
	if got := digString(processor, "auth_type"); got != "serviceAccount" {
		t.Errorf("k8sattributes auth_type %q, want serviceAccount", got)
	}
	var keys []string
	associations, _ := dig(processor, "pod_association")
	list, _ := associations.([]any)
	for _, a := range list {
		sources, _ := a.(map[string]any)["sources"].([]any)
		for _, src := range sources {
			if src, ok := src.(map[string]any); ok && src["from"] == "resource_attribute" {
				keys = append(keys, fmt.Sprint(src["name"]))
			}
		}
	}
	if !slices.Equal(keys, []string{"k8s.pod.uid", "container.id"}) {
		t.Errorf("k8sattributes associates pods by resource attributes %q, want k8s.pod.uid then container.id, as kretspan sets them", keys)
	}

	spec := dep.Spec.Template.Spec
	if spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken {
		t.Error("the Collector's pod does not mount its ServiceAccount token, which k8sattributes needs")
	}
	account := spec.ServiceAccountName
	if _, ok := m.serviceAccounts[account]; account == "" || !ok {
		t.Fatalf("the Collector runs as ServiceAccount %q, which the manifests do not define", account)
	}
	need := map[string][]string{"/pods": {"get", "list", "watch"}, "/namespaces": {"get", "list", "watch"}, "apps/replicasets": {"get", "list", "watch"}}
	granted := map[string][]string{}
	for _, binding := range m.clusterRoleBindings {
		bound := slices.ContainsFunc(binding.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == account && s.Namespace == dep.Namespace
		})
		role, ok := m.clusterRoles[binding.RoleRef.Name]
		if !bound || binding.RoleRef.Kind != "ClusterRole" || !ok {
			continue
		}
		for _, rule := range role.Rules {
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					granted[group+"/"+resource] = append(granted[group+"/"+resource], rule.Verbs...)
				}
			}
		}
	}
	for resource, verbs := range need {
		for _, verb := range verbs {
			if !slices.Contains(granted[resource], verb) {
				t.Errorf("ServiceAccount %s may not %s %s", account, verb, resource)
			}
		}
	}
}
