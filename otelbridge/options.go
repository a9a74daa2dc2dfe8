package otelbridge

import "time"

// ScopeName and Version name kretspan as the instrumentation scope of its spans.
const (
	ScopeName = "github.com/kretspan/kretspan"
	Version   = "0.1.0"
)

// Defaults of a Pipeline's batching, which the command's settings take as theirs.
const (
	DefaultBatchSize    = 2048
	DefaultBatchTimeout = 200 * time.Millisecond
	DefaultQueueBatches = 4
)

type config struct {
	batchSize        int
	batchTimeout     time.Duration
	queueBatches     int
	stacks           StackNamer
	processes        ProcessSource
	fixedServiceName bool
}

func newConfig(opts []Option) config {
	c := config{batchSize: DefaultBatchSize, batchTimeout: DefaultBatchTimeout, queueBatches: DefaultQueueBatches}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Option configures a Pipeline.
type Option func(*config)

// WithBatchSize sets how many spans go into one export (default DefaultBatchSize).
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithBatchTimeout sets how long a partly filled batch waits before it is exported (default DefaultBatchTimeout).
func WithBatchTimeout(d time.Duration) Option { return func(c *config) { c.batchTimeout = d } }

// WithQueueBatches bounds the export queue, in batches (default DefaultQueueBatches); events arriving while all of
// them are full or exporting are dropped and counted.
func WithQueueBatches(n int) Option { return func(c *config) { c.queueBatches = n } }

// StackNamer names the stacks a call's longest block began in (bpf.SchedTail's stack ids), in
// process pid, as code.stacktrace text; ok is false for a stack that is not there to name.
type StackNamer func(pid uint32, kernelID, userID int32) (text string, ok bool)

// WithBlockedStacks gives each span whose call has a longest block a span event named blocked,
// with that block's stacks as names gives them; a block whose stack cannot be named gets none.
func WithBlockedStacks(names StackNamer) Option { return func(c *config) { c.stacks = names } }

// WithProcesses gives each process its own resource: the host's attributes, the process's
// (process.*, container.id, k8s.pod.uid), and its service.name, unless fixedServiceName says
// the user named the service for every span, as the host resource's service.name does.
func WithProcesses(source ProcessSource, fixedServiceName bool) Option {
	return func(c *config) { c.processes, c.fixedServiceName = source, fixedServiceName }
}
