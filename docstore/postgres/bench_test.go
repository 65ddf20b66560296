package postgres

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/storetest"
	"github.com/collabd/collabd/internal/pgtest"
)

// Benchmarks of the durable path against a real server (see databaseURL).
// Every commit waits for the server's WAL flush, so the figures depend on
// its disk far more than on the CPU. Run them with
//
//	go test -run '^$' -bench . -benchtime 3s ./docstore/postgres/
//
// and the same benchmarks of the embedded store with
//
//	go test -run '^$' -bench . -benchtime 3s ./docstore/embedded/
//
// The commit modes: group (the default: the committer goroutine) and solo
// (one transaction per Append, as a store without group commit does).

// updateSize is the size of a typical Yjs update for a few typed characters.
const updateSize = 64

func benchStore(b *testing.B, solo bool) *Store {
	b.Helper()
	url := pgtest.URL(b)
	s := openT(b, url, freshSchema(b, url), Options{MaxConns: 16})
	s.solo = solo
	return s
}

func modeName(solo bool) string {
	if solo {
		return "solo"
	}
	return "group"
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
	for _, solo := range []bool{false, true} {
		b.Run(modeName(solo), func(b *testing.B) {
			s := benchStore(b, solo)
			u := make([]byte, updateSize)
			ctx := b.Context()
			s.commits.Store(0)
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
// document or spread over 100, as the rooms of a busy server do. p50-ms and
// p99-ms are the latencies of single Appends under that load.
func BenchmarkAppendParallel(b *testing.B) {
	for _, docs := range []int{1, 100} {
		for _, solo := range []bool{false, true} {
			b.Run(fmt.Sprintf("docs=%d/%s", docs, modeName(solo)), func(b *testing.B) {
				s := benchStore(b, solo)
				names := make([]string, docs)
				for i := range names {
					names[i] = fmt.Sprintf("room-%d", i)
				}
				s.commits.Store(0)
				reportUpdates(b, s, storetest.AppendParallel(b, s, names, updateSize))
			})
		}
	}
}

// BenchmarkLoad8MB loads a document whose stored state is 8 MB: a 7 MB
// snapshot and 1000 log entries of 1 KB after it (random bytes, which
// PostgreSQL cannot compress). "pooled" loads on a connection the pool
// already has; "new-store" opens a store for every Load (untimed), so
// that the timed Load also connects, as the first room of a freshly
// started collabd does.
func BenchmarkLoad8MB(b *testing.B) {
	url := pgtest.URL(b)
	schema := freshSchema(b, url)
	s := openT(b, url, schema, Options{})
	ctx := b.Context()
	rnd := rand.New(rand.NewPCG(1, 1))
	random := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rnd.Uint32())
		}
		return p
	}
	snap := random(7 << 20)
	seq, err := s.Append(ctx, "big", random(updateSize))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Compact(ctx, "big", snap, seq, docstore.TriggerHibernate); err != nil {
		b.Fatal(err)
	}
	for range 10 {
		us := make([][]byte, 100)
		for i := range us {
			us[i] = random(1 << 10)
		}
		if _, err := s.Append(ctx, "big", us...); err != nil {
			b.Fatal(err)
		}
	}
	size := int64(len(snap) + 1000<<10)
	check := func(b *testing.B, st *docstore.Stored) {
		if len(st.Snapshot) != len(snap) || len(st.Entries) != 1000 {
			b.Fatalf("loaded %d bytes and %d entries", len(st.Snapshot), len(st.Entries))
		}
	}

	b.Run("pooled", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			st, err := s.Load(ctx, "big")
			if err != nil {
				b.Fatal(err)
			}
			check(b, st)
		}
	})
	b.Run("new-store", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			fresh, err := Open(ctx, url, Options{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			fresh.pool.Reset() // Open's migration check left a connection
			b.StartTimer()
			st, err := fresh.Load(ctx, "big")
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			check(b, st)
			_ = fresh.Close()
			b.StartTimer()
		}
	})
}
