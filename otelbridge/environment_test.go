package otelbridge

import (
	"strings"
	"testing"
)

func TestCheckEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
			"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
			"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20x,tenant=a", "OTEL_RESOURCE_ATTRIBUTES": "k8s.node.name=n1,env=prod"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://tempo.example:443"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "::bad"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "localhost:4317"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://host:21"}, "want a URL"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "milliseconds"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"}, "milliseconds"},
		{map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, "true or false"},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "gzip or none"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "key=value"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=%zz"}, "percent-encoding"},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "=v"}, "OTEL_RESOURCE_ATTRIBUTES"},
		// OTLP refuses a request holding a string that is not UTF-8: every export would fail.
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=caf%C3%A9", "OTEL_SERVICE_NAME": "café"}, ""},
		{map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=%FF"}, "not valid UTF-8"},
		{map[string]string{"OTEL_SERVICE_NAME": "svc\xff"}, "not valid UTF-8"},
	} {
		err := CheckEnvironment(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one mentioning %q", tc.env, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: error spans lines: %q", tc.env, err)
		}
	}
}
