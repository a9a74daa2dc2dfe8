package main

import (
	"fmt"
	"os"
	"testing"
)

// Overload: a thread calls getppid as fast as it can, far beyond what a 4 KiB ring buffer and a
// one-batch export queue can carry. kretspan must not crash, must stay within bounded memory, and
// must account for every call: the kernel's row and the user-space line balance exactly.
func TestKernelOverloadKeepsTheLedger(t *testing.T) {
	requireRoot(t)
	dir := buildTools(t)
	seconds := 30
	if os.Getenv("KRETSPAN_VMTEST") != "" {
		seconds = 5 // emulated kernels are slow enough to overload in less
	}
	d := startDriver(t, dir)
	receiver := startReceiver(t)
	k := startKretspan(t, dir, "--otlp-endpoint", receiver.Endpoint(), "--pid", fmt.Sprint(d.PID),
		"--ringbuf-size", "4096", "--batch-size", "64", "--queue-batches", "1", "syscall:getppid")
	var calls uint64
	if _, err := fmt.Sscanf(d.Do(t, fmt.Sprintf("spin %d", seconds)), "spun %d", &calls); err != nil {
		t.Fatal(err)
	}
	peak := k.PeakRSS(t)
	k.Stop(t)

	row := summaryRow(t, k.Stderr(), "syscall:getppid")
	entered, exported, filtered, sampled, dropped, missed, inFlight := row[0], row[1], row[2], row[3], row[4], row[5], row[6]
	received, userExported, queueDropped, failed := k.UserSpace(t)
	t.Logf("%d calls in %ds: %d exported, %d dropped in the kernel, %d dropped in user space, %d failed; peak RSS %d MiB",
		calls, seconds, exported, dropped, queueDropped, failed, peak>>20)
	if entered-filtered != calls {
		t.Errorf("kretspan saw %d calls of the workload, it made %d", entered-filtered, calls)
	}
	if submitted := entered - filtered - sampled - dropped - missed - inFlight; submitted != received {
		t.Errorf("the kernel submitted %d events, user space received %d", submitted, received)
	}
	if received != userExported+queueDropped+failed || userExported != exported {
		t.Errorf("user space received %d = exported %d + dropped %d + failed %d? (row says %d exported)", received, userExported, queueDropped, failed, exported)
	}
	if dropped == 0 {
		t.Errorf("no kernel drops: the workload did not overload kretspan")
	}
	if len(receiver.Spans()) != int(exported) {
		t.Errorf("the receiver got %d spans, kretspan says it exported %d", len(receiver.Spans()), exported)
	}
	if peak > 100<<20 {
		t.Errorf("peak RSS %d MiB under overload, want bounded (< 100 MiB)", peak>>20)
	}
}
