package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kretspan/kretspan/internal/testprocess"
)

// TestKretspanToJaegerOverHTTP exports to a real Jaeger's OTLP/HTTP port, asked for in each of
// the three ways a user may ask for http/protobuf. Jaeger refuses metrics, so none are sent.
func TestKretspanToJaegerOverHTTP(t *testing.T) {
	requireRoot(t)
	jaegerBin := jaegerBinary(t)
	kretspanBin, nestedBin := build(t)
	assets, _ := uiAssets(t)

	// Port 4318 is OTLP/HTTP's: a bare endpoint on it means http/protobuf. Jaeger takes it when
	// it is free; else that case is skipped.
	ports := freePorts(t, 4)
	have4318 := false
	if l, err := net.Listen("tcp", "127.0.0.1:4318"); err == nil {
		l.Close()
		ports[1], have4318 = 4318, true
	}
	j := startJaegerAt(t, jaegerBin, assets, ports)
	base := "http://127.0.0.1:" + strconv.Itoa(ports[1])

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		skip string
	}{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=" + base}, nil, ""},
		{"port 4318", nil, []string{"--otlp-endpoint", "http://127.0.0.1:4318"}, map[bool]string{true: "", false: "port 4318 is taken on this host"}[have4318]},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + base + "/v1/traces"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			service := fmt.Sprintf("kretspan-http-%d-%d", os.Getpid(), time.Now().UnixNano())
			w := testprocess.StartWorkload(t, nestedBin, strconv.Itoa(workloadCalls), strconv.Itoa(workloadMs))
			args := append(tc.args, "--metrics-interval", "0", "--pid", strconv.FormatInt(w.PID, 10), "--batch-timeout", "50ms",
				"uprobe:"+nestedBin+":outer", "uprobe:"+nestedBin+":inner", "syscall:clock_nanosleep")
			k := testprocess.StartKretspan(t, kretspanBin, append(tc.env, "OTEL_SERVICE_NAME="+service), args...)
			if made := w.Run(t); len(made) != workloadCalls {
				t.Fatalf("the workload made %d calls, want %d", len(made), workloadCalls)
			}
			k.Stop(t)
			if want := "exporting to OTLP http/protobuf " + base + "/v1/traces."; !strings.Contains(k.Stderr(), want) {
				t.Errorf("kretspan's output lacks %q:\n%s", want, k.Stderr())
			}
			n := 0
			for _, tr := range j.waitForSpans(t, service, workloadSpans, 20*time.Second) {
				n += len(tr.Spans)
			}
			if n != workloadSpans {
				t.Fatalf("Jaeger holds %d spans, want %d\nkretspan:\n%s", n, workloadSpans, k.Stderr())
			}
		})
	}
}
