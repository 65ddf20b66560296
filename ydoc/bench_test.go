package ydoc

import (
	"runtime"
	"testing"
)

// Benchmarks on the real editing trace. scripts/bench-ydoc.sh runs these
// alternately with the same work in Yjs (bench/ydoc/bench.mjs, same names)
// and prints Go/Yjs ratios.

func benchApply(b *testing.B, n int) {
	f := traceFor(b)
	ups := f.updates[:n]
	b.ReportAllocs()
	for b.Loop() {
		d := New(Options{})
		for _, u := range ups {
			if err := d.ApplyUpdate(u); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/update")
}

func BenchmarkTraceApplyRemote(b *testing.B) { benchApply(b, len(traceFor(b).updates)) }

func BenchmarkTraceApplyRemote10k(b *testing.B) { benchApply(b, 10000) }

func BenchmarkTraceApplyRemote160k(b *testing.B) { benchApply(b, 160000) }

func loadedTrace(b *testing.B) *Doc {
	d := New(Options{})
	if err := d.ApplyUpdate(traceFor(b).final); err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkLoadFinalState(b *testing.B) {
	f := traceFor(b)
	b.ReportAllocs()
	for b.Loop() {
		d := New(Options{})
		if err := d.ApplyUpdate(f.final); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeFullState(b *testing.B) {
	d := loadedTrace(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = d.EncodeStateAsUpdate(nil)
	}
}

func BenchmarkEncodeDiff(b *testing.B) {
	d := loadedTrace(b)
	sv := traceFor(b).halfSV
	b.ReportAllocs()
	for b.Loop() {
		_ = d.EncodeStateAsUpdate(sv)
	}
}

func BenchmarkMergeUpdates10k(b *testing.B) {
	ups := traceFor(b).updates[:10000]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MergeUpdates(ups...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeapPerDoc reports the heap a loaded trace document holds.
func BenchmarkHeapPerDoc(b *testing.B) {
	f := traceFor(b)
	const n = 20
	var perDoc float64
	for b.Loop() {
		docs := make([]*Doc, n)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range docs {
			docs[i] = New(Options{})
			if err := docs[i].ApplyUpdate(f.final); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perDoc = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(docs)
	}
	b.ReportMetric(perDoc, "B/doc")
}
