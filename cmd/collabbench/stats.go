package main

import (
	"math"
	"math/bits"
	"time"
)

// hist is a log-linear histogram of non-negative durations in nanoseconds.
// Values below 256 ns are counted exactly; above, each power of two is cut
// into 128 buckets, so a reported quantile is within 0.4% of a recorded
// value (it is the midpoint of its bucket, clamped to [min, max]). Count,
// min, max and mean are exact. Memory grows with the largest value seen
// (about 25 KB for values up to a second), not with the number of values.
//
// The zero value is an empty histogram. A hist is not safe for concurrent
// use.
type hist struct {
	counts []uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	histSubBits  = 8
	histSub      = 1 << histSubBits // exact values below this
	histHalf     = histSub / 2      // buckets per power of two above it
	histMaxShift = 40               // values are clamped below 2^(histSubBits+histMaxShift) ns
)

// histBucket returns the bucket of v (v >= 0).
func histBucket(v int64) int {
	u := uint64(v)
	if u < histSub {
		return int(u)
	}
	shift := bits.Len64(u) - histSubBits // >= 1
	if shift > histMaxShift {
		return histSub + histMaxShift*histHalf - 1
	}
	return histSub + (shift-1)*histHalf + int(u>>shift) - histHalf
}

// histBounds returns the smallest value of bucket b and its width.
func histBounds(b int) (low, width int64) {
	if b < histSub {
		return int64(b), 1
	}
	k := b - histSub
	shift := k/histHalf + 1
	top := int64(k%histHalf + histHalf)
	return top << shift, 1 << shift
}

// add records one value; negative values count as zero.
func (h *hist) add(v int64) {
	v = max(v, 0)
	b := histBucket(v)
	if b >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, b+1-len(h.counts))...)
	}
	h.counts[b]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// merge adds o's values to h.
func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value at quantile q (0 <= q <= 1): the value whose
// rank is ceil(q*n), from its bucket. It returns 0 for an empty histogram.
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	switch {
	case q <= 0:
		return h.min
	case q >= 1:
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := histBounds(b)
			v := low + (width-1)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// latency is a histogram's summary as reported, in milliseconds.
type latency struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

func (h *hist) summary() latency {
	if h.n == 0 {
		return latency{}
	}
	return latency{
		Count:  h.n,
		MeanMs: h.sum / float64(h.n) / float64(time.Millisecond),
		P50Ms:  ms(h.quantile(0.50)),
		P90Ms:  ms(h.quantile(0.90)),
		P99Ms:  ms(h.quantile(0.99)),
		P999Ms: ms(h.quantile(0.999)),
		MaxMs:  ms(h.max),
	}
}
