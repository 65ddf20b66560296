package embedded

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/storetest"
)

// Benchmarks of the durable path. Every commit is fsynced, so the figures
// depend on the disk far more than on the CPU. Run them with
//
//	go test -run '^$' -bench . -benchtime 2s ./docstore/embedded/
//
// An Append costs one write and one fdatasync of the log, shared by the
// Appends committed together, plus its share of the folds into bbolt.

// update is the size of a typical Yjs update for a few typed characters.
const updateSize = 64

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "collabd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func reportUpdates(b *testing.B, s *Store, updates int64) {
	b.ReportMetric(float64(updates)/b.Elapsed().Seconds(), "updates/s")
	if c := s.commits.Load(); c > 0 {
		b.ReportMetric(float64(updates)/float64(c), "updates/commit")
	}
}

// BenchmarkAppendSerial: one goroutine appends one update at a time, each
// waiting for its commit.
func BenchmarkAppendSerial(b *testing.B) {
	s := benchStore(b)
	u := make([]byte, updateSize)
	ctx := b.Context()
	for b.Loop() {
		if _, err := s.Append(ctx, "doc", u); err != nil {
			b.Fatal(err)
		}
	}
	reportUpdates(b, s, int64(b.N))
}

// BenchmarkAppendParallel: 64 goroutines append concurrently, to one
// document or spread over 100, as the rooms of a busy server do.
func BenchmarkAppendParallel(b *testing.B) {
	for _, docs := range []int{1, 100} {
		b.Run(fmt.Sprintf("docs=%d", docs), func(b *testing.B) {
			s := benchStore(b)
			names := make([]string, docs)
			for i := range names {
				names[i] = fmt.Sprintf("room-%d", i)
			}
			reportUpdates(b, s, storetest.AppendParallel(b, s, names, updateSize))
		})
	}
}

// BenchmarkLoad8MB loads a document whose snapshot is 8 MB, with 100 log
// entries after it.
func BenchmarkLoad8MB(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	snap := make([]byte, 8<<20)
	rnd := rand.New(rand.NewPCG(1, 1))
	for i := range snap {
		snap[i] = byte(rnd.Uint32())
	}
	u := make([]byte, updateSize)
	seq, err := s.Append(ctx, "big", u)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Compact(ctx, "big", snap, seq, docstore.TriggerHibernate); err != nil {
		b.Fatal(err)
	}
	for range 100 {
		if _, err := s.Append(ctx, "big", u); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(snap) + 100*updateSize))
	b.ReportAllocs()
	for b.Loop() {
		st, err := s.Load(ctx, "big")
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Snapshot) != len(snap) || len(st.Entries) != 100 {
			b.Fatalf("loaded %d bytes and %d entries", len(st.Snapshot), len(st.Entries))
		}
	}
}
