package embedded

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/storetest"
)

// Benchmarks of the durable path. Every commit is fsynced, so the figures
// depend on the disk far more than on the CPU. Run them with
//
//	go test -run '^$' -bench . -benchtime 2s ./docstore/embedded/
//
// The commit modes: group (the default: the committer goroutine), boltbatch
// (bbolt's DB.Batch, which waits up to 10 ms to collect a batch) and solo
// (one transaction, two fsyncs, per Append).

var modes = []commitMode{commitGroup, commitBoltBatch, commitSolo}

// update is the size of a typical Yjs update for a few typed characters.
const updateSize = 64

func benchStore(b *testing.B, mode commitMode) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "collabd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	s.mode = mode
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func reportUpdates(b *testing.B, s *Store, updates int64) {
	b.ReportMetric(float64(updates)/b.Elapsed().Seconds(), "updates/s")
	if s.mode == commitGroup {
		if c := s.commits.Load(); c > 0 {
			b.ReportMetric(float64(updates)/float64(c), "updates/commit")
		}
	}
}

// BenchmarkAppendSerial: one goroutine appends one update at a time, each
// waiting for its commit.
func BenchmarkAppendSerial(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode.String(), func(b *testing.B) {
			s := benchStore(b, mode)
			u := make([]byte, updateSize)
			ctx := b.Context()
			for b.Loop() {
				if _, err := s.Append(ctx, "doc", u); err != nil {
					b.Fatal(err)
				}
			}
			reportUpdates(b, s, int64(b.N))
		})
	}
}

// BenchmarkAppendParallel: 64 goroutines append concurrently, to one
// document or spread over 100, as the rooms of a busy server do.
func BenchmarkAppendParallel(b *testing.B) {
	for _, docs := range []int{1, 100} {
		for _, mode := range modes {
			b.Run(fmt.Sprintf("docs=%d/%s", docs, mode), func(b *testing.B) {
				s := benchStore(b, mode)
				names := make([]string, docs)
				for i := range names {
					names[i] = fmt.Sprintf("room-%d", i)
				}
				var n, worker atomic.Int64
				ctx := b.Context()
				b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
				var (
					mu  sync.Mutex
					lat [][]time.Duration
				)
				b.RunParallel(func(pb *testing.PB) {
					rnd := rand.New(rand.NewPCG(uint64(worker.Add(1)), 0))
					u := make([]byte, updateSize)
					var mine []time.Duration
					for pb.Next() {
						start := time.Now()
						if _, err := s.Append(ctx, names[rnd.IntN(docs)], u); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(start))
						n.Add(1)
					}
					mu.Lock()
					lat = append(lat, mine)
					mu.Unlock()
				})
				reportUpdates(b, s, n.Load())
				storetest.ReportLatency(b, lat)
			})
		}
	}
}

// BenchmarkLoad8MB loads a document whose snapshot is 8 MB, with 100 log
// entries after it.
func BenchmarkLoad8MB(b *testing.B) {
	s := benchStore(b, commitGroup)
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
