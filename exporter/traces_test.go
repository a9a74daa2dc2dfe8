package exporter

import (
	"bytes"
	"context"
	"testing"
)

// Every name the help offers starts an exporter, and only those do.
func TestTraceExporters(t *testing.T) {
	for _, name := range TraceExporterNames() {
		sink, err := NewTraceExporter(context.Background(), name, Destination{Endpoint: "http://127.0.0.1:1", Console: &bytes.Buffer{}})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := sink.Shutdown(context.Background()); err != nil {
			t.Errorf("%s: shutdown: %v", name, err)
		}
	}
	if _, err := NewTraceExporter(context.Background(), "zipkin", Destination{}); err == nil {
		t.Error("an unknown exporter was started")
	}
}
