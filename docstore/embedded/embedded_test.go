package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "collabd.db")
		return func(t *testing.T, cfg storetest.Config) docstore.Store {
			s, err := Open(path, Options{Retention: cfg.Retention, Now: cfg.Now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func openT(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenCreatesDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "collabd.db")
	s := openT(t, path, Options{})
	if _, err := s.Append(t.Context(), "doc", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %s: %v, %v; want mode 0600", path, fi, err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	openT(t, path, Options{})

	start := time.Now()
	_, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second Open took %v", d)
	}
	t.Logf("error: %v", err)

	_, err = Open(path, Options{LockTimeout: -1})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open with negative LockTimeout: %v, want ErrLocked", err)
	}
}

func TestOpenAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	s := openT(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock is gone with the first store.
	openT(t, path, Options{LockTimeout: -1})
}

// writeBolt creates a bbolt file at path and runs fn in a transaction on it.
func writeBolt(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	s := openT(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	writeBolt(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion+1))
	})
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrNewerFormat) {
		t.Fatalf("Open: %v, want ErrNewerFormat", err)
	}
	t.Logf("error: %v", err)
	// The failed Open released the file.
	writeBolt(t, path, func(tx *bolt.Tx) error { return nil })
}

func TestOpenNotAStore(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		prepare func(path string)
		want    error
	}{
		{"garbage", func(path string) {
			os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600)
		}, docstore.ErrCorrupt},
		{"short garbage", func(path string) {
			os.WriteFile(path, []byte("x"), 0o600)
		}, docstore.ErrCorrupt},
		{"other bbolt file", func(path string) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("something else"))
				return err
			})
		}, ErrNotStore},
		{"meta without format", func(path string) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket(bucketMeta)
				return err
			})
		}, ErrNotStore},
		{"bad format value", func(path string) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put(keyFormat, []byte{1})
			})
		}, docstore.ErrCorrupt},
		{"no docs bucket", func(path string) {
			writeBolt(t, path, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket(bucketMeta)
				if err != nil {
					return err
				}
				return b.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
			})
		}, docstore.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			tt.prepare(path)
			_, err := Open(path, Options{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCorruptRecords damages records inside a valid file: every read of the
// damaged document reports ErrCorrupt, and other documents are unaffected.
func TestCorruptRecords(t *testing.T) {
	tests := []struct {
		name   string
		damage func(doc *bolt.Bucket) error
	}{
		{"info missing", func(b *bolt.Bucket) error { return b.Delete(keyInfo) }},
		{"info truncated", func(b *bolt.Bucket) error { return b.Put(keyInfo, bytes.Clone(b.Get(keyInfo)[:10])) }},
		{"info negative", func(b *bolt.Bucket) error {
			v := bytes.Clone(b.Get(keyInfo))
			v[16] = 0xff
			return b.Put(keyInfo, v)
		}},
		{"log entry missing", func(b *bolt.Bucket) error { return b.Bucket(bucketLog).Delete(key(4)) }},
		{"log entry grown", func(b *bolt.Bucket) error { return b.Bucket(bucketLog).Put(key(4), []byte("longer")) }},
		{"log bucket missing", func(b *bolt.Bucket) error { return b.DeleteBucket(bucketLog) }},
		{"bad log key", func(b *bolt.Bucket) error {
			log := b.Bucket(bucketLog)
			if err := log.Delete(key(4)); err != nil {
				return err
			}
			return log.Put([]byte("odd"), []byte("d"))
		}},
		{"snapshot missing", func(b *bolt.Bucket) error { return b.Bucket(bucketSnapshots).Delete(key(1)) }},
		{"version record bad", func(b *bolt.Bucket) error { return b.Bucket(bucketVersions).Put(key(1), []byte{1, 2, 3}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "collabd.db")
			s := openT(t, path, Options{})
			ctx := t.Context()
			for _, doc := range []string{"doc", "fine"} {
				if _, err := s.Append(ctx, doc, []byte("a"), []byte("b"), []byte("c")); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Compact(ctx, doc, []byte("snap"), 2, docstore.TriggerManual); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Append(ctx, doc, []byte("d")); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			writeBolt(t, path, func(tx *bolt.Tx) error {
				return tt.damage(tx.Bucket(bucketDocs).Bucket([]byte("doc")))
			})

			s = openT(t, path, Options{})
			// Reads first: Compact replaces what it damaged.
			_, loadErr := s.Load(ctx, "doc")
			var errs []error
			_, err := s.Versions(ctx, "doc")
			errs = append(errs, err)
			_, _, err = s.Version(ctx, "doc", 1)
			errs = append(errs, err)
			_, err = s.Documents(ctx)
			errs = append(errs, err)
			_, err = s.Append(ctx, "doc", []byte("e"))
			errs = append(errs, err)
			_, err = s.Compact(ctx, "doc", []byte("snap"), 4, docstore.TriggerManual)
			errs = append(errs, err)
			for _, err := range errs {
				if err != nil && !errors.Is(err, docstore.ErrCorrupt) {
					t.Errorf("error %v, want ErrCorrupt or none", err)
				}
			}
			if tt.name == "version record bad" { // Load does not read version records
				if loadErr != nil || !errors.Is(errs[0], docstore.ErrCorrupt) {
					t.Fatalf("Load: %v, want no error; Versions: %v, want ErrCorrupt", loadErr, errs[0])
				}
			} else if !errors.Is(loadErr, docstore.ErrCorrupt) {
				t.Fatalf("Load: %v, want ErrCorrupt", loadErr)
			}
			// The undamaged document is unaffected, and Appends batched
			// with a failing one still succeed.
			if _, err := s.Append(ctx, "fine", []byte("e")); err != nil {
				t.Fatalf("Append to another document: %v", err)
			}
			st, err := s.Load(ctx, "fine")
			if err != nil || string(st.Snapshot) != "snap" || len(st.Entries) != 3 {
				t.Fatalf("Load of another document: %+v, %v", st, err)
			}
		})
	}
}

// TestCorruptFile flips bytes all over a store's file: whatever happens,
// nothing panics (operations fail with errors, or succeed).
func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.db")
	s := openT(t, clean, Options{})
	ctx := t.Context()
	for i := range 20 {
		doc := string(rune('a' + i))
		if _, err := s.Append(ctx, doc, bytes.Repeat([]byte{byte(i)}, 100*i+1), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := s.Compact(ctx, doc, bytes.Repeat([]byte("s"), 5000*i+1), 1, docstore.TriggerManual); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	// Pages 0 and 1 are bbolt's checksummed meta pages; damage the others,
	// half of the time in a page header, but not in its overflow count
	// (bytes 12 to 15): bbolt's freelist trusts that count when it frees
	// a page and allocates memory for every page it names, so a damaged
	// one makes a commit run out of memory. (That is bbolt's, and was so
	// before the log: the commit of an Append met the same page.)
	pageSize := os.Getpagesize()
	pages := len(data) / pageSize
	rnd := rand.New(rand.NewPCG(1, 2))
	cases := 300
	if testing.Short() {
		cases = 50
	}
	for range cases {
		page, off := 2+rnd.IntN(pages-2), rnd.IntN(pageSize)
		if rnd.IntN(2) == 0 {
			off = rnd.IntN(16)
		}
		if 12 <= off && off < 16 {
			continue
		}
		damaged := bytes.Clone(data)
		damaged[page*pageSize+off] ^= 0x5a
		path := filepath.Join(dir, "damaged.db")
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		// A log that a previous case could not fold belongs to another file.
		if err := os.Remove(path + "-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		// A panic would crash the test binary (some of it runs on the
		// committer goroutine), so the test only has to go through the
		// motions.
		s, err := Open(path, Options{})
		if err != nil {
			continue
		}
		_, _ = s.Documents(ctx)
		for i := range 20 {
			doc := string(rune('a' + i))
			_, _ = s.Load(ctx, doc)
			_, _ = s.Versions(ctx, doc)
			_, _, _ = s.Version(ctx, doc, 1)
		}
		_, _ = s.Append(ctx, "a", []byte("more"))
		_, _ = s.Compact(ctx, "c", []byte("snap"), 2, docstore.TriggerManual)
		_, _ = s.Load(ctx, "a")
		// Close folds the log: damage that the Append did not meet can
		// make that fail, and the log then keeps the updates.
		if err := s.Close(); err != nil && !errors.Is(err, docstore.ErrCorrupt) {
			t.Errorf("page %d offset %d: Close: %v", page, off, err)
		}
	}
}

func TestCommitBatchesConcurrentAppends(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{})
	storetestAppendMany(t, s, 64, 20)
	commits := s.commits.Load()
	t.Logf("%d Appends in %d commits", 64*20, commits)
	if commits >= 64*20 {
		t.Fatalf("%d Appends took %d commits: no group commit", 64*20, commits)
	}
}

// storetestAppendMany runs writers goroutines appending n updates each.
func storetestAppendMany(t *testing.T, s *Store, writers, n int) {
	t.Helper()
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range n {
				if _, err := s.Append(t.Context(), "doc", []byte{byte(w), byte(i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPingReportsStalledLogWrite: a log write or fdatasync that does not
// return (a hung disk) makes Ping fail after StallTimeout, since a room
// waiting for its AppendAsync has no deadline of its own; once it returns,
// Ping is fine again.
func TestPingReportsStalledLogWrite(t *testing.T) {
	var (
		stall   atomic.Bool
		entered = make(chan struct{}, 1)
		release = make(chan struct{})
	)
	// Generous, so that a slow machine does not see a stall in the
	// moment between the hook's signal and the first Ping.
	const stallTimeout = 300 * time.Millisecond
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{StallTimeout: stallTimeout,
		hook: func(event string) {
			if event == "log-written" && stall.Load() {
				entered <- struct{}{}
				<-release
			}
		}})
	ctx := t.Context()
	if _, err := s.Append(ctx, "doc", []byte("a")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(stallTimeout + 50*time.Millisecond) // no write under way
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping of an idle store: %v", err)
	}
	stall.Store(true)
	done := make(chan error, 1)
	s.AppendAsync("doc", [][]byte{[]byte("b")}, func(_ int64, err error) { done <- err })
	<-entered
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping at the start of a write: %v", err)
	}
	time.Sleep(stallTimeout + 50*time.Millisecond)
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "has not returned") {
		t.Fatalf("Ping during a stalled write = %v, want the stall reported", err)
	}
	stall.Store(false)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("AppendAsync: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the write returned: %v", err)
	}
}

// TestAppendAsyncDoesNotWaitForAFullQueue: while the committer is stuck in
// a write, AppendAsync returns at once even when its queue is full, and
// every append is answered once the write returns.
func TestAppendAsyncDoesNotWaitForAFullQueue(t *testing.T) {
	var (
		stall   atomic.Bool
		entered = make(chan struct{}, 1)
		release = make(chan struct{})
	)
	stall.Store(true)
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{MaxBatch: 2,
		hook: func(event string) {
			if event == "log-written" && stall.CompareAndSwap(true, false) {
				entered <- struct{}{}
				<-release
			}
		}})
	const n = 10 // the queue holds MaxBatch
	answers := make(chan error, n)
	done := func(_ int64, err error) { answers <- err }
	s.AppendAsync("doc", [][]byte{[]byte("0")}, done)
	<-entered // the committer holds the first one in its write
	returned := make(chan struct{})
	go func() {
		for i := 1; i < n; i++ {
			s.AppendAsync("doc", [][]byte{[]byte(fmt.Sprint(i))}, done)
		}
		close(returned)
	}()
	select {
	case <-returned:
		close(release)
	case <-time.After(5 * time.Second):
		close(release) // so that the store can close
		t.Fatal("AppendAsync waited for the stuck committer")
	}
	for range n {
		if err := <-answers; err != nil {
			t.Fatalf("AppendAsync: %v", err)
		}
	}
	st, err := s.Load(t.Context(), "doc")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != n {
		t.Fatalf("%d entries stored, want %d", len(st.Entries), n)
	}
}

func TestKVConformance(t *testing.T) {
	storetest.RunKV(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "collabd.db")
		return func(t *testing.T, cfg storetest.Config) docstore.Store {
			s, err := Open(path, Options{Retention: cfg.Retention, Now: cfg.Now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
