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
