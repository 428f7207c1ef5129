package main

import (
	"math"
	"testing"
	"time"
)

func TestHistIndex(t *testing.T) {
	prev := -1
	for _, ns := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := histIndex(ns)
		if i < prev || i >= histBuckets {
			t.Errorf("histIndex(%d) = %d, want at least %d and below %d", ns, i, prev, histBuckets)
		}
		prev = i
		if v := histValue(i); math.Abs(float64(v)-float64(ns)) > float64(ns)/64+1 {
			t.Errorf("histValue(histIndex(%d)) = %d, want within 1/64", ns, v)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	// 1 ms to 10 ms in steps of 1 µs: the q-quantile is near 1 ms + q·9 ms.
	for us := 1000; us <= 10000; us++ {
		h.record(time.Duration(us) * time.Microsecond)
	}
	var other histogram
	other.record(50 * time.Millisecond)
	h.merge(&other)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		want := time.Duration(1000+q*9001) * time.Microsecond
		got := h.quantile(q)
		if math.Abs(float64(got-want)) > float64(want)/50 {
			t.Errorf("quantile(%g) = %v, want %v within 2%%", q, got, want)
		}
	}
	if h.max != 50*time.Millisecond || h.quantile(1) != 50*time.Millisecond {
		t.Errorf("max = %v, quantile(1) = %v, want 50ms", h.max, h.quantile(1))
	}
	var empty histogram
	if q := empty.quantile(0.99); q != 0 {
		t.Errorf("empty quantile = %v, want 0", q)
	}
}
