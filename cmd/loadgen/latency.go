package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets: exact below 64 ns, and
// above that 32 buckets per power of two, so that a percentile read from
// it is within 1/64 (1.6%) of the true one. It keeps a run of any length
// in 15 KiB per worker, where keeping every latency of a 10-minute soak
// would take tens of megabytes.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	histExact   = 64
	histSub     = 32 // buckets per power of two
	histBuckets = histExact + 58*histSub
)

// histIndex returns the bucket of a latency in nanoseconds.
func histIndex(ns uint64) int {
	if ns < histExact {
		return int(ns)
	}
	shift := bits.Len64(ns) - 6 // keep the top 6 bits: 32 to 63
	top := ns >> shift
	return histExact + (shift-1)*histSub + int(top-histSub)
}

// histValue returns the middle of a bucket, in nanoseconds.
func histValue(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	i -= histExact
	shift := i/histSub + 1
	top := uint64(i%histSub + histSub)
	return top<<shift + (1<<shift)/2
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a share q of the recorded ones
// fall (the nearest-rank method); 0 when none were recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999)
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(histValue(i)), h.max)
		}
	}
	return h.max
}
