package summary

import (
	"math/bits"
	"time"
)

// subBuckets per power of two: quantiles are exact to within 1/16 (about 6%).
const subBucketBits = 4

// LatencyHistogram is a log-linear histogram of durations in nanoseconds, for the summary's
// quantiles: kretspan's pipeline records every event it receives into one per probe.
type LatencyHistogram struct {
	counts [64 << subBucketBits]uint64
	total  uint64
}

func bucketOf(v uint64) int {
	if v < 1<<subBucketBits {
		return int(v)
	}
	exp := bits.Len64(v) - 1 - subBucketBits
	return (exp+1)<<subBucketBits + int(v>>uint(exp))&(1<<subBucketBits-1)
}

// bucketLow is the smallest value of a bucket.
func bucketLow(i int) uint64 {
	if i < 1<<subBucketBits {
		return uint64(i)
	}
	exp := i>>subBucketBits - 1
	return (1<<subBucketBits | uint64(i&(1<<subBucketBits-1))) << uint(exp)
}

// Record adds one duration.
func (h *LatencyHistogram) Record(ns uint64) {
	h.counts[bucketOf(ns)]++
	h.total++
}

// Count is the number of recorded durations.
func (h *LatencyHistogram) Count() uint64 { return h.total }

// Quantile returns the middle of the bucket holding quantile q (0..1).
func (h *LatencyHistogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration((bucketLow(i) + bucketLow(i+1)) / 2)
		}
	}
	return 0
}
