package otelbridge

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"golang.org/x/sys/unix"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const DefaultServiceName = "kretspan"

// NewResource describes this host as OTLP protobuf, for the spans built here; see DetectResource.
func NewResource(ctx context.Context) (*resourcepb.Resource, error) {
	res, err := DetectResource(ctx)
	if err != nil {
		return nil, err
	}
	return ResourceProto(res), nil
}

// DetectResource describes this host: service.name, host.name, os.type, os.version (the kernel
// release), then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, which override the rest.
func DetectResource(ctx context.Context) (*resource.Resource, error) {
	var uname unix.Utsname
	if err := unix.Uname(&uname); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(DefaultServiceName), semconv.OSVersion(unix.ByteSliceToString(uname.Release[:]))),
		resource.WithHost(),
		resource.WithOSType(),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}

// ResourceProto is res as OTLP protobuf.
func ResourceProto(res *resource.Resource) *resourcepb.Resource {
	out := &resourcepb.Resource{}
	for _, kv := range res.Attributes() {
		out.Attributes = append(out.Attributes, keyValue(kv))
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
