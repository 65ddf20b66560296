package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	prevLow := int64(-1)
	for b := range histSub + histMaxShift*histHalf {
		low, width := histBounds(b)
		if low <= prevLow {
			t.Fatalf("bucket %d starts at %d, not after the previous start %d", b, low, prevLow)
		}
		for _, v := range []int64{low, low + width - 1} {
			if got := histBucket(v); got != b {
				t.Fatalf("histBucket(%d) = %d, want %d (bucket [%d, %d))", v, got, b, low, low+width)
			}
		}
		if b >= histSub && float64(width)/float64(low) > 1.0/histHalf+1e-12 {
			t.Fatalf("bucket %d: width %d is more than 1/%d of %d", b, width, histHalf, low)
		}
		prevLow = low
	}
	if got, want := histBucket(math.MaxInt64), histSub+histMaxShift*histHalf-1; got != want {
		t.Errorf("histBucket(MaxInt64) = %d, want the last bucket %d", got, want)
	}
}

func TestHistQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []int64
		q      float64
		want   int64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []int64{42}, 0.99, 42},
		{"exact small", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"exact small p90", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"min", []int64{300, 7, 90000}, 0, 7},
		{"max exact", []int64{300, 7, 90001}, 1, 90001},
		{"negative counts as zero", []int64{-5, -1}, 0.5, 0},
		{"clamped to max", []int64{1000, 1001}, 0.99, 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h hist
			for _, v := range tt.values {
				h.add(v)
			}
			if got := h.quantile(tt.q); got != tt.want {
				t.Errorf("quantile(%v) = %d, want %d", tt.q, got, tt.want)
			}
		})
	}
}

// TestHistAgainstSort compares quantiles with those of the sorted values.
func TestHistAgainstSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h hist
	var all []int64
	for range 100_000 {
		// Log-normal-ish latencies around a millisecond, with a tail.
		v := int64(math.Exp(rng.NormFloat64()*1.2) * float64(time.Millisecond))
		h.add(v)
		all = append(all, v)
	}
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := all[int(math.Ceil(q*float64(len(all))))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/histHalf {
			t.Errorf("quantile(%v) = %d, sorted %d: relative error %.4f", q, got, want, rel)
		}
	}
	if h.max != all[len(all)-1] || h.min != all[0] || h.n != uint64(len(all)) {
		t.Errorf("min/max/n = %d/%d/%d, want %d/%d/%d", h.min, h.max, h.n, all[0], all[len(all)-1], len(all))
	}
}

func TestHistMerge(t *testing.T) {
	var a, b, both hist
	for i := range int64(1000) {
		v := i * i * 37
		if i%3 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
		both.add(v)
	}
	var m hist
	m.merge(&a)
	m.merge(&b)
	m.merge(&hist{})
	if m.n != both.n || m.min != both.min || m.max != both.max || m.sum != both.sum {
		t.Fatalf("merged n/min/max/sum = %d/%d/%d/%v, want %d/%d/%d/%v", m.n, m.min, m.max, m.sum, both.n, both.min, both.max, both.sum)
	}
	for _, q := range []float64{0.1, 0.5, 0.99} {
		if got, want := m.quantile(q), both.quantile(q); got != want {
			t.Errorf("merged quantile(%v) = %d, want %d", q, got, want)
		}
	}
}

func TestLatencySummary(t *testing.T) {
	var h hist
	for i := 1; i <= 100; i++ {
		h.add(int64(i) * int64(time.Millisecond))
	}
	s := h.summary()
	if s.Count != 100 || s.MaxMs != 100 || math.Abs(s.MeanMs-50.5) > 1e-9 {
		t.Errorf("summary = %+v", s)
	}
	if math.Abs(s.P50Ms-50) > 50.0/histHalf || math.Abs(s.P99Ms-99) > 99.0/histHalf {
		t.Errorf("p50 %.3f ms, p99 %.3f ms; want about 50 and 99", s.P50Ms, s.P99Ms)
	}
	if (&hist{}).summary() != (latency{}) {
		t.Error("empty histogram summary is not zero")
	}
}
