package bpf

// ProbeCounters is ProbeCounts with a field per counter, for the readers not yet switched to the
// counter table (otelbridge's metrics, internal/summary). This file goes once they read ProbeCounts.
type ProbeCounters struct {
	Entered, Submitted, FilteredEntry, FilteredDuration, FilteredErrors, SampledOut uint64
	DropInflightFull, DropDepth, DropRingbufFull, MissedReturn, OrphanReturn        uint64
	LatencySumNs                                                                    uint64
	LatencyLog2                                                                     [64]uint64
}

func (c *ProbeCounters) fields() [counterCount]*uint64 {
	return [counterCount]*uint64{
		CounterEntered: &c.Entered, CounterSubmitted: &c.Submitted, CounterFilteredEntry: &c.FilteredEntry,
		CounterFilteredDuration: &c.FilteredDuration, CounterFilteredErrors: &c.FilteredErrors, CounterSampledOut: &c.SampledOut,
		CounterDropInflightFull: &c.DropInflightFull, CounterDropDepth: &c.DropDepth, CounterDropRingbufFull: &c.DropRingbufFull,
		CounterMissedReturn: &c.MissedReturn, CounterOrphanReturn: &c.OrphanReturn,
	}
}

func (c *ProbeCounters) counts() *ProbeCounts {
	counts := &ProbeCounts{LatencySumNs: c.LatencySumNs, LatencyLog2: c.LatencyLog2}
	for k, field := range c.fields() {
		counts.Counts[k] = *field
	}
	return counts
}

func legacyCounters(counts *ProbeCounts) ProbeCounters {
	c := ProbeCounters{LatencySumNs: counts.LatencySumNs, LatencyLog2: counts.LatencyLog2}
	for k, field := range c.fields() {
		*field = counts.Counts[k]
	}
	return c
}

// Filtered is ProbeCounts.Filtered.
func (c *ProbeCounters) Filtered() uint64 { return c.counts().Filtered() }

// InFlight is ProbeCounts.InFlight.
func (c *ProbeCounters) InFlight() uint64 { return c.counts().InFlight() }

// Counters is Counts, in ProbeCounters.
func (t *Tracer) Counters() ([]ProbeCounters, error) {
	counts, err := t.Counts()
	if err != nil {
		return nil, err
	}
	legacy := make([]ProbeCounters, len(counts))
	for i := range counts {
		legacy[i] = legacyCounters(&counts[i])
	}
	return legacy, nil
}
