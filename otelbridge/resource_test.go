package otelbridge

import (
	"context"
	"testing"
)

func TestNewResourceServiceNameFromResourceAttributes(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=bar")
	res, err := NewResource(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, kv := range res.Attributes {
		if kv.Key == "service.name" {
			count++
			if kv.Value.GetStringValue() != "bar" {
				t.Errorf("service.name %v, want bar", kv.Value)
			}
		}
	}
	if count != 1 {
		t.Errorf("service.name appears %d times", count)
	}
}

// The user names every span's service with --service-name, OTEL_SERVICE_NAME or service.name in
// OTEL_RESOURCE_ATTRIBUTES; otherwise each process names its own.
func TestUserNamedService(t *testing.T) {
	for _, tc := range []struct {
		flag, serviceName, attributes string
		want                          bool
	}{
		{"", "", "", false},
		{"", " ", "deployment.environment=prod", false},
		{"calls", "", "", true},
		{"", "calls", "", true},
		{"", "", "service.name=calls", true},
	} {
		t.Setenv("OTEL_SERVICE_NAME", tc.serviceName)
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", tc.attributes)
		if got := UserNamedService(context.Background(), tc.flag); got != tc.want {
			t.Errorf("--service-name %q, OTEL_SERVICE_NAME %q, OTEL_RESOURCE_ATTRIBUTES %q: %v, want %v", tc.flag, tc.serviceName, tc.attributes, got, tc.want)
		}
	}
}

// The Downward API's node goes on every span's resource; kretspan's own pod only on its own.
func TestDownwardAPI(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	for _, v := range DownwardAPI {
		t.Setenv(v.Env, "value-of-"+v.Env)
	}
	res, err := DetectResource(context.Background(), "named")
	if err != nil {
		t.Fatal(err)
	}
	own := res.Set()
	spans := map[string]string{}
	for _, kv := range SpanResource(res).Attributes {
		spans[kv.Key] = kv.Value.GetStringValue()
	}
	for _, v := range DownwardAPI {
		if got, _ := own.Value(v.Key); got.AsString() != "value-of-"+v.Env {
			t.Errorf("kretspan's resource: %s = %q, want it from %s", v.Key, got.AsString(), v.Env)
		}
		if _, onSpans := spans[string(v.Key)]; onSpans == v.OwnPod {
			t.Errorf("spans' resource has %s: %v, want %v", v.Key, onSpans, !v.OwnPod)
		}
	}
	if spans["service.name"] != "named" || spans["telemetry.distro.name"] != "kretspan" {
		t.Errorf("spans' resource %v, want service.name named and telemetry.distro.name kretspan", spans)
	}
}
