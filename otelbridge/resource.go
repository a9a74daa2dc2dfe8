package otelbridge

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"golang.org/x/sys/unix"
)

// DefaultServiceName is kretspan's own service.name (its metrics') unless OTEL_SERVICE_NAME,
// --service-name or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const DefaultServiceName = "kretspan"

// DownwardAPI are the variables that tell kretspan, running in a Kubernetes pod, where it runs:
// its DaemonSet sets them from the pod's own fields (the Downward API). The node is every span's
// node; the namespace, pod name and UID are kretspan's own pod's, so they describe only kretspan
// (its metrics), never the processes it traces.
var DownwardAPI = []DownwardVariable{
	{"K8S_NODE_NAME", semconv.K8SNodeNameKey, false},
	{"K8S_NAMESPACE_NAME", semconv.K8SNamespaceNameKey, true},
	{"K8S_POD_NAME", semconv.K8SPodNameKey, true},
	{"K8S_POD_UID", semconv.K8SPodUIDKey, true},
}

// DownwardVariable is a variable of the Downward API and the resource attribute it sets.
type DownwardVariable struct {
	Env    string
	Key    attribute.Key
	OwnPod bool // describes kretspan's pod, not the processes it traces
}

// NewResource describes this host as OTLP protobuf, for the spans built here; see DetectResource.
func NewResource(ctx context.Context) (*resourcepb.Resource, error) {
	res, err := DetectResource(ctx, "")
	if err != nil {
		return nil, err
	}
	return SpanResource(res), nil
}

// DetectResource describes kretspan on this host: service.name, host.name, os.type, os.version
// (the kernel release), telemetry.distro.*, the DownwardAPI variables that are set, then OTEL_RESOURCE_ATTRIBUTES
// and OTEL_SERVICE_NAME, which override the rest, and serviceName (--service-name) if not empty.
func DetectResource(ctx context.Context, serviceName string) (*resource.Resource, error) {
	var uname unix.Utsname
	if err := unix.Uname(&uname); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	attributes := []attribute.KeyValue{semconv.ServiceName(DefaultServiceName), semconv.OSVersion(unix.ByteSliceToString(uname.Release[:])),
		semconv.TelemetryDistroName(DefaultServiceName), semconv.TelemetryDistroVersion(Version)}
	for _, v := range DownwardAPI {
		if value := strings.TrimSpace(os.Getenv(v.Env)); value != "" {
			attributes = append(attributes, v.Key.String(value))
		}
	}
	options := []resource.Option{
		resource.WithAttributes(attributes...),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	}
	if serviceName != "" {
		options = append(options, resource.WithAttributes(semconv.ServiceName(serviceName)))
	}
	res, err := resource.New(ctx, options...)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}

// UserNamedService reports whether the user named the service of every span: serviceName
// (--service-name or OTEL_SERVICE_NAME), or service.name in OTEL_RESOURCE_ATTRIBUTES.
func UserNamedService(ctx context.Context, serviceName string) bool {
	if serviceName != "" {
		return true
	}
	fromEnv, err := resource.New(ctx, resource.WithFromEnv())
	return err == nil && fromEnv.Set().HasValue(semconv.ServiceNameKey)
}

// SpanResource is res as OTLP protobuf, less what describes kretspan's own pod: what every
// span's resource says.
func SpanResource(res *resource.Resource) *resourcepb.Resource {
	out := &resourcepb.Resource{}
	for _, kv := range res.Attributes() {
		if !slices.ContainsFunc(DownwardAPI, func(v DownwardVariable) bool { return v.OwnPod && v.Key == kv.Key }) {
			out.Attributes = append(out.Attributes, keyValue(kv))
		}
	}
	return out
}

func keyValue(kv attribute.KeyValue) *commonpb.KeyValue {
	value := &commonpb.AnyValue{}
	switch kv.Value.Type() {
	case attribute.BOOL:
		value.Value = &commonpb.AnyValue_BoolValue{BoolValue: kv.Value.AsBool()}
	case attribute.INT64:
		value.Value = &commonpb.AnyValue_IntValue{IntValue: kv.Value.AsInt64()}
	case attribute.FLOAT64:
		value.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: kv.Value.AsFloat64()}
	default:
		value.Value = &commonpb.AnyValue_StringValue{StringValue: kv.Value.String()}
	}
	return &commonpb.KeyValue{Key: string(kv.Key), Value: value}
}
