package summary

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyHistogramEmpty(t *testing.T) {
	var h LatencyHistogram
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if got := h.Quantile(q); got != 0 {
			t.Errorf("empty Quantile(%v) = %v", q, got)
		}
	}
	if h.Count() != 0 {
		t.Errorf("empty Count() = %d", h.Count())
	}
}

func TestLatencyHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dist := range []struct {
		name string
		gen  func() uint64
	}{
		{"uniform small", func() uint64 { return rng.Uint64N(100) }},
		{"uniform wide", func() uint64 { return rng.Uint64N(10_000_000) }},
		{"log-uniform", func() uint64 { return uint64(math.Exp(rng.Float64() * math.Log(1e11))) }},
		{"bimodal", func() uint64 {
			if rng.IntN(10) == 0 {
				return 50_000_000 + rng.Uint64N(1_000_000)
			}
			return 2_000 + rng.Uint64N(500)
		}},
	} {
		t.Run(dist.name, func(t *testing.T) {
			var h LatencyHistogram
			values := make([]uint64, 20_000)
			for i := range values {
				values[i] = dist.gen()
				h.Record(values[i])
			}
			if h.Count() != uint64(len(values)) {
				t.Errorf("Count() = %d, want %d", h.Count(), len(values))
			}
			slices.Sort(values)
			for _, q := range []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1} {
				exact := float64(values[int(q*float64(len(values)-1))])
				got := float64(h.Quantile(q))
				if math.Abs(got-exact) > exact/16 {
					t.Errorf("Quantile(%v) = %v, exact %v: relative error %.3f > 1/16", q, got, exact, math.Abs(got-exact)/exact)
				}
			}
		})
	}
}

func TestLatencyHistogramSmallValuesExact(t *testing.T) {
	var h LatencyHistogram
	for v := range uint64(32) {
		h.Record(v)
	}
	for v := range uint64(32) {
		q := float64(v) / 31
		if got := h.Quantile(q); got != time.Duration(v) {
			t.Errorf("Quantile(%v) = %v, want %dns exactly", q, got, v)
		}
	}
	var one LatencyHistogram
	one.Record(uint64(3 * time.Millisecond))
	for _, q := range []float64{0, 0.5, 1} {
		if got := one.Quantile(q); math.Abs(float64(got-3*time.Millisecond)) > float64(3*time.Millisecond)/16 {
			t.Errorf("single value: Quantile(%v) = %v", q, got)
		}
	}
}

func TestLatencyHistogramBuckets(t *testing.T) {
	// Every value lies in its bucket, and buckets are contiguous and increasing.
	for _, v := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 1000, 1 << 20, 1<<20 + 12345, 1 << 40, math.MaxUint64 >> 2} {
		i := bucketOf(v)
		if low, high := bucketLow(i), bucketLow(i+1); v < low || v >= high {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, low, high)
		}
	}
	for i := 1; i < 900; i++ {
		if bucketLow(i) <= bucketLow(i-1) {
			t.Fatalf("bucketLow(%d) = %d not above bucketLow(%d) = %d", i, bucketLow(i), i-1, bucketLow(i-1))
		}
		if bucketOf(bucketLow(i)) != i {
			t.Fatalf("bucketOf(bucketLow(%d)) = %d", i, bucketOf(bucketLow(i)))
		}
	}
}
