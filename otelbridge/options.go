package otelbridge

import "time"

// ScopeName and Version name kretspan as the instrumentation scope of its spans.
const (
	ScopeName = "github.com/kretspan/kretspan"
	Version   = "0.1.0"
)

type config struct {
	batchSize     int
	batchTimeout  time.Duration
	queueBatches  int
	exportTimeout time.Duration
}

func newConfig(opts []Option) config {
	c := config{batchSize: 2048, batchTimeout: 200 * time.Millisecond, queueBatches: 4, exportTimeout: 30 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Option configures a Pipeline.
type Option func(*config)

// WithBatchSize sets how many spans go into one export (default 2048).
func WithBatchSize(n int) Option { return func(c *config) { c.batchSize = n } }

// WithBatchTimeout sets how long a partly filled batch waits before it is exported (default 200ms).
func WithBatchTimeout(d time.Duration) Option { return func(c *config) { c.batchTimeout = d } }

// WithQueueBatches bounds the export queue, in batches (default 4); events arriving while all of
// them are full or exporting are dropped and counted.
func WithQueueBatches(n int) Option { return func(c *config) { c.queueBatches = n } }

// WithExportTimeout bounds one export, retries included (default 30s).
func WithExportTimeout(d time.Duration) Option { return func(c *config) { c.exportTimeout = d } }
