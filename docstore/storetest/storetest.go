// Package storetest is the conformance suite for docstore.Store backends.
// Every backend's tests call Run, so that all backends behave alike:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Opener {
//			path := filepath.Join(t.TempDir(), "collabd.db")
//			return func(t *testing.T, cfg storetest.Config) docstore.Store {
//				s, err := embedded.Open(path, embedded.Options{Retention: cfg.Retention, Now: cfg.Now})
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			}
//		})
//	}
//
// Run it with -race: several subtests race Appends against each other and
// against Compact and Close.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabd/collabd/docstore"
)

// Config is what the suite needs to set on a store it opens.
type Config struct {
	// Retention is the store's retention policy.
	Retention docstore.Retention
	// Now is the store's clock; nil means time.Now.
	Now func() time.Time
}

// Opener opens a Store on one storage location (a file, a database
// schema). The suite may call it several times for the same location, each
// time after closing the Store it opened before, and expects to find the
// data written before. It reports failures through t.
type Opener func(t *testing.T, cfg Config) docstore.Store

// Run runs the conformance suite. fresh prepares a new, empty storage
// location for one subtest (cleaning it up with t.Cleanup) and returns an
// Opener for it. Subtests may run in parallel with each other.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"AppendLoad", testAppendLoad},
		{"UnknownDocument", testUnknownDocument},
		{"InvalidInput", testInvalidInput},
		{"Names", testNames},
		{"Copies", testCopies},
		{"Compact", testCompact},
		{"CompactNewDocument", testCompactNewDocument},
		{"CompactRacingAppends", testCompactRacingAppends},
		{"Versions", testVersions},
		{"RetentionKeepLast", testRetentionKeepLast},
		{"RetentionMaxAge", testRetentionMaxAge},
		{"RetentionBoth", testRetentionBoth},
		{"Info", testInfo},
		{"ConcurrentAppendsOneDocument", testConcurrentAppendsOne},
		{"ConcurrentAppendsManyDocuments", testConcurrentAppendsMany},
		{"LargeValues", testLargeValues},
		{"Context", testContext},
		{"Close", testClose},
		{"CloseRacingOperations", testCloseRacing},
		{"Reopen", testReopen},
		{"AppendAsync", testAppendAsync},
		{"Delete", testDelete},
		{"DeleteRecreate", testDeleteRecreate},
		{"DeleteReopen", testDeleteReopen},
		{"DeleteRacingAppends", testDeleteRacingAppends},
		{"List", testList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, &harness{open: fresh(t), clock: newClock()})
		})
	}
}

// harness opens stores for one subtest.
type harness struct {
	open  Opener
	clock *clock
}

// store opens a store with the harness's clock and the given retention, and
// closes it when the test ends.
func (h *harness) store(t *testing.T, r docstore.Retention) docstore.Store {
	t.Helper()
	s := h.open(t, Config{Retention: r, Now: h.clock.Now})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// clock is a settable clock for Config.Now. It is safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	// Nanoseconds on purpose: stores keep microseconds.
	return &clock{t: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)}
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stored is the precision stores keep times with.
func stored(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func mustAppend(t *testing.T, s docstore.Store, doc string, updates ...string) int64 {
	t.Helper()
	bs := make([][]byte, len(updates))
	for i, u := range updates {
		bs[i] = []byte(u)
	}
	seq, err := s.Append(t.Context(), doc, bs...)
	if err != nil {
		t.Fatalf("Append(%q, %d updates): %v", doc, len(updates), err)
	}
	return seq
}

func mustLoad(t *testing.T, s docstore.Store, doc string) *docstore.Stored {
	t.Helper()
	st, err := s.Load(t.Context(), doc)
	if err != nil {
		t.Fatalf("Load(%q): %v", doc, err)
	}
	return st
}

func mustCompact(t *testing.T, s docstore.Store, doc, snapshot string, through int64, trigger docstore.Trigger) docstore.Version {
	t.Helper()
	v, err := s.Compact(t.Context(), doc, []byte(snapshot), through, trigger)
	if err != nil {
		t.Fatalf("Compact(%q, through %d): %v", doc, through, err)
	}
	return v
}

func mustInfo(t *testing.T, s docstore.Store, doc string) docstore.DocumentInfo {
	t.Helper()
	info, err := s.Info(t.Context(), doc)
	if err != nil {
		t.Fatalf("Info(%q): %v", doc, err)
	}
	return info
}

func mustVersions(t *testing.T, s docstore.Store, doc string) []docstore.Version {
	t.Helper()
	vs, err := s.Versions(t.Context(), doc)
	if err != nil {
		t.Fatalf("Versions(%q): %v", doc, err)
	}
	return vs
}

// updates returns the updates of entries as strings.
func updates(entries []docstore.Entry) []string {
	us := make([]string, len(entries))
	for i, e := range entries {
		us[i] = string(e.Update)
	}
	return us
}

// checkEntries checks that st's entries have increasing seqs after
// st.Through, the last being st.LastSeq, and hold want.
func checkEntries(t *testing.T, st *docstore.Stored, want []string) {
	t.Helper()
	if got := updates(st.Entries); !slices.Equal(got, want) {
		t.Fatalf("entries = %q, want %q", got, want)
	}
	checkSeqs(t, st)
}

func checkSeqs(t *testing.T, st *docstore.Stored) {
	t.Helper()
	if err := seqsIncrease(st); err != nil {
		t.Fatal(err)
	}
}

// seqsIncrease checks that st's entries have positive, increasing seqs
// after st.Through, the last being st.LastSeq. (It reports instead of
// failing the test, for goroutines other than the test's.)
func seqsIncrease(st *docstore.Stored) error {
	prev := st.Through
	for _, e := range st.Entries {
		if e.Seq <= prev || e.Seq <= 0 {
			return fmt.Errorf("entry seq %d after %d (base covers %d)", e.Seq, prev, st.Through)
		}
		prev = e.Seq
	}
	if st.LastSeq != prev {
		return fmt.Errorf("LastSeq = %d, want %d (last entry or base)", st.LastSeq, prev)
	}
	return nil
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func testAppendLoad(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	seq1 := mustAppend(t, s, "doc", "a")
	if seq1 <= 0 {
		t.Fatalf("first seq = %d, want > 0", seq1)
	}
	seq3 := mustAppend(t, s, "doc", "b", "c")
	if seq3 <= seq1+1 {
		t.Fatalf("seq after appending 2 more = %d, want > %d", seq3, seq1+1)
	}
	seq4 := mustAppend(t, s, "doc", "d")

	st := mustLoad(t, s, "doc")
	checkEntries(t, st, []string{"a", "b", "c", "d"})
	if st.Snapshot != nil || st.Version != 0 || st.Through != 0 {
		t.Fatalf("never compacted: Snapshot %q, Version %d, Through %d; want nil, 0, 0", st.Snapshot, st.Version, st.Through)
	}
	// The updates of one Append get consecutive seqs.
	gotSeqs := []int64{st.Entries[0].Seq, st.Entries[1].Seq, st.Entries[2].Seq, st.Entries[3].Seq}
	if wantSeqs := []int64{seq1, seq3 - 1, seq3, seq4}; !slices.Equal(gotSeqs, wantSeqs) {
		t.Fatalf("seqs = %v, want %v (as Append returned them)", gotSeqs, wantSeqs)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testUnknownDocument(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	mustAppend(t, s, "known", "x")

	_, err := s.Load(ctx, "unknown")
	wantErr(t, "Load", err, docstore.ErrNotFound)
	_, err = s.Versions(ctx, "unknown")
	wantErr(t, "Versions", err, docstore.ErrNotFound)
	_, _, err = s.Version(ctx, "unknown", 1)
	wantErr(t, "Version", err, docstore.ErrNotFound)
	_, err = s.Info(ctx, "unknown")
	wantErr(t, "Info", err, docstore.ErrNotFound)
	_, err = s.Compact(ctx, "unknown", []byte("snap"), 1, docstore.TriggerManual)
	wantErr(t, "Compact through 1", err, docstore.ErrSeqRange)
	_, err = s.Load(ctx, "unknown")
	wantErr(t, "Load after failed Compact", err, docstore.ErrNotFound)
	wantErr(t, "Delete", s.Delete(ctx, "unknown"), docstore.ErrNotFound)

	// A written but never compacted document has no versions.
	vs, err := s.Versions(ctx, "known")
	if err != nil || len(vs) != 0 || vs == nil {
		t.Fatalf("Versions of an uncompacted document = %v, %v; want empty, nil", vs, err)
	}
	_, _, err = s.Version(ctx, "known", 1)
	wantErr(t, "Version 1 of an uncompacted document", err, docstore.ErrVersionNotFound)

	docs, err := s.Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Name != "known" {
		t.Fatalf("Documents = %+v, want only known", docs)
	}
}

func testInvalidInput(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	badNames := []string{"", strings.Repeat("x", docstore.MaxNameLen+1), "bad\xffutf8", "nul\x00byte"}
	for _, name := range badNames {
		_, err := s.Append(ctx, name, []byte("x"))
		wantErr(t, fmt.Sprintf("Append(%q)", name), err, docstore.ErrInvalidName)
		_, err = s.Load(ctx, name)
		wantErr(t, fmt.Sprintf("Load(%q)", name), err, docstore.ErrInvalidName)
		_, err = s.Compact(ctx, name, []byte("x"), 0, docstore.TriggerManual)
		wantErr(t, fmt.Sprintf("Compact(%q)", name), err, docstore.ErrInvalidName)
		_, err = s.Versions(ctx, name)
		wantErr(t, fmt.Sprintf("Versions(%q)", name), err, docstore.ErrInvalidName)
		_, _, err = s.Version(ctx, name, 1)
		wantErr(t, fmt.Sprintf("Version(%q)", name), err, docstore.ErrInvalidName)
		_, err = s.Info(ctx, name)
		wantErr(t, fmt.Sprintf("Info(%q)", name), err, docstore.ErrInvalidName)
		err = s.Delete(ctx, name)
		wantErr(t, fmt.Sprintf("Delete(%q)", name), err, docstore.ErrInvalidName)
		if name != "" {
			_, err = s.List(ctx, name, 10)
			wantErr(t, fmt.Sprintf("List after %q", name), err, docstore.ErrInvalidName)
		}
	}

	// Empty updates are refused, and so is a whole Append containing one.
	_, err := s.Append(ctx, "doc")
	wantErr(t, "Append without updates", err, docstore.ErrEmpty)
	_, err = s.Append(ctx, "doc", []byte{})
	wantErr(t, "Append of an empty update", err, docstore.ErrEmpty)
	_, err = s.Append(ctx, "doc", []byte("a"), nil, []byte("b"))
	wantErr(t, "Append with a nil update", err, docstore.ErrEmpty)
	_, err = s.Load(ctx, "doc")
	wantErr(t, "Load after refused Appends", err, docstore.ErrNotFound)

	last := mustAppend(t, s, "doc", "a", "b")
	_, err = s.Compact(ctx, "doc", nil, last, docstore.TriggerManual)
	wantErr(t, "Compact with an empty snapshot", err, docstore.ErrEmpty)
	for _, trigger := range []docstore.Trigger{"", "Manual", "with space", docstore.Trigger(strings.Repeat("x", 33))} {
		_, err = s.Compact(ctx, "doc", []byte("snap"), last, trigger)
		wantErr(t, fmt.Sprintf("Compact with trigger %q", trigger), err, docstore.ErrInvalidTrigger)
	}
	_, err = s.Compact(ctx, "doc", []byte("snap"), -1, docstore.TriggerManual)
	wantErr(t, "Compact through -1", err, docstore.ErrSeqRange)
	_, err = s.Compact(ctx, "doc", []byte("snap"), last+1, docstore.TriggerManual)
	wantErr(t, "Compact beyond the last seq", err, docstore.ErrSeqRange)

	// Nothing of that changed the document.
	st := mustLoad(t, s, "doc")
	checkEntries(t, st, []string{"a", "b"})
	if st.Snapshot != nil {
		t.Fatalf("snapshot %q after refused Compacts", st.Snapshot)
	}
	if vs := mustVersions(t, s, "doc"); len(vs) != 0 {
		t.Fatalf("versions after refused Compacts: %+v", vs)
	}
	if _, err := s.Compact(ctx, "doc", []byte("snap"), last, "custom-trigger_2"); err != nil {
		t.Fatalf("Compact with a valid custom trigger: %v", err)
	}
}

// names are document names that a store must keep apart.
func names() []string {
	return []string{
		"a", "a/", "a/b", "a/b/c", "/a", "A", "a b", "a.b", "..", "../../etc/passwd",
		"%2F", "a%2Fb", "room?x=1#y", "C:\\windows\\system32", "tab\there", "newline\nhere",
		"\x01ctl", "ünïcödé", "文档", "🦆🦆", "\u200b", "emoji/🦆/x",
		strings.Repeat("l", docstore.MaxNameLen),
		strings.Repeat("é", docstore.MaxNameLen/2),
		strings.Repeat("l", docstore.MaxNameLen-1) + "m",
	}
}

func testNames(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ns := names()
	for i, n := range ns {
		mustAppend(t, s, n, fmt.Sprintf("update %d of %q", i, n))
		if i%2 == 0 {
			mustCompact(t, s, n, fmt.Sprintf("snapshot of %q", n), mustInfo(t, s, n).LastSeq, docstore.TriggerManual)
			mustAppend(t, s, n, fmt.Sprintf("after %q", n))
		}
	}
	for i, n := range ns {
		st := mustLoad(t, s, n)
		want := []string{fmt.Sprintf("update %d of %q", i, n)}
		if i%2 == 0 {
			want = []string{fmt.Sprintf("after %q", n)}
			if got, w := string(st.Snapshot), fmt.Sprintf("snapshot of %q", n); got != w {
				t.Errorf("snapshot of %q = %q, want %q", n, got, w)
			}
		} else if st.Snapshot != nil {
			t.Errorf("%q has snapshot %q, want none", n, st.Snapshot)
		}
		checkEntries(t, st, want)
	}
	docs, err := s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(docs))
	for i, d := range docs {
		got[i] = d.Name
	}
	want := slices.Clone(ns)
	slices.Sort(want) // bytewise
	if !slices.Equal(got, want) {
		t.Fatalf("Documents names = %q\nwant (bytewise order) %q", got, want)
	}
}

func testCopies(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	u := []byte("update")
	if _, err := s.Append(ctx, "doc", u); err != nil {
		t.Fatal(err)
	}
	copy(u, "XXXXXX")
	st := mustLoad(t, s, "doc")
	if got := string(st.Entries[0].Update); got != "update" {
		t.Fatalf("after changing the appended slice, stored update = %q", got)
	}
	snap := []byte("snapshot")
	if _, err := s.Compact(ctx, "doc", snap, st.LastSeq, docstore.TriggerManual); err != nil {
		t.Fatal(err)
	}
	copy(snap, "XXXXXXXX")
	mustAppend(t, s, "doc", "next")
	st = mustLoad(t, s, "doc")
	if string(st.Snapshot) != "snapshot" {
		t.Fatalf("after changing the compacted slice, snapshot = %q", st.Snapshot)
	}
	copy(st.Snapshot, "YYYYYYYY")
	copy(st.Entries[0].Update, "YYYY")
	st = mustLoad(t, s, "doc")
	if string(st.Snapshot) != "snapshot" || string(st.Entries[0].Update) != "next" {
		t.Fatalf("after changing loaded slices, Load = %q, %q", st.Snapshot, updates(st.Entries))
	}
	_, data, err := s.Version(ctx, "doc", st.Version)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "ZZZZ")
	if _, data, _ = s.Version(ctx, "doc", st.Version); string(data) != "snapshot" {
		t.Fatalf("after changing an exported version, Version = %q", data)
	}
}

func testCompact(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	mustAppend(t, s, "doc", "1", "2")
	third := mustAppend(t, s, "doc", "3")
	mustAppend(t, s, "doc", "4", "5")

	v1 := mustCompact(t, s, "doc", "snap 1-3", third, docstore.TriggerThreshold)
	if v1.ID <= 0 || v1.Through != third || v1.Size != len("snap 1-3") || v1.Trigger != docstore.TriggerThreshold {
		t.Fatalf("Compact returned %+v", v1)
	}
	st := mustLoad(t, s, "doc")
	if string(st.Snapshot) != "snap 1-3" || st.Version != v1.ID || st.Through != third {
		t.Fatalf("Load after Compact: snapshot %q version %d through %d; want %q, %d, %d",
			st.Snapshot, st.Version, st.Through, "snap 1-3", v1.ID, third)
	}
	checkEntries(t, st, []string{"4", "5"})

	// Seqs are never reused, not even those folded into a snapshot.
	last := st.LastSeq
	six := mustAppend(t, s, "doc", "6")
	if six <= last {
		t.Fatalf("seq after compaction = %d, want > %d", six, last)
	}

	// throughSeq is checked against both ends.
	_, err := s.Compact(ctx, "doc", []byte("x"), six+1, docstore.TriggerManual)
	wantErr(t, "Compact beyond the last seq", err, docstore.ErrSeqRange)
	_, err = s.Compact(ctx, "doc", []byte("x"), third-1, docstore.TriggerManual)
	wantErr(t, "Compact behind the base", err, docstore.ErrSeqRange)

	// Compacting through the base's own seq (no new entries folded) makes a
	// new version and keeps the entries.
	v2 := mustCompact(t, s, "doc", "snap 1-3 again", third, docstore.TriggerManual)
	if v2.ID <= v1.ID {
		t.Fatalf("second version ID %d, want > %d", v2.ID, v1.ID)
	}
	st = mustLoad(t, s, "doc")
	if string(st.Snapshot) != "snap 1-3 again" || st.Version != v2.ID {
		t.Fatalf("Load: snapshot %q version %d, want the second", st.Snapshot, st.Version)
	}
	checkEntries(t, st, []string{"4", "5", "6"})

	// Everything folded: no entries left, LastSeq stays.
	v3 := mustCompact(t, s, "doc", "snap 1-6", six, docstore.TriggerHibernate)
	st = mustLoad(t, s, "doc")
	if string(st.Snapshot) != "snap 1-6" || st.Version != v3.ID || st.Through != six || st.LastSeq != six || len(st.Entries) != 0 {
		t.Fatalf("Load after folding everything = %+v", st)
	}
	// And compacting again with nothing new is allowed.
	mustCompact(t, s, "doc", "snap 1-6 again", six, docstore.TriggerHibernate)
	if seven := mustAppend(t, s, "doc", "7"); seven <= six {
		t.Fatalf("seq after folding everything = %d, want > %d", seven, six)
	}
	checkEntries(t, mustLoad(t, s, "doc"), []string{"7"})
}

func testCompactNewDocument(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	v := mustCompact(t, s, "restored", "imported state", 0, docstore.TriggerRestore)
	st := mustLoad(t, s, "restored")
	if string(st.Snapshot) != "imported state" || st.Version != v.ID || st.Through != 0 || st.LastSeq != 0 || len(st.Entries) != 0 {
		t.Fatalf("Load of a document created by Compact = %+v", st)
	}
	seq := mustAppend(t, s, "restored", "u")
	if seq <= 0 {
		t.Fatalf("seq = %d", seq)
	}
	checkEntries(t, mustLoad(t, s, "restored"), []string{"u"})
}

// The suite's own snapshot format for the racing tests: the set of updates
// a snapshot covers, one per line after a header.
func encodeSet(set []string) []byte { return []byte("set\n" + strings.Join(set, "\n")) }

func decodeSet(t *testing.T, b []byte) []string {
	t.Helper()
	if b == nil {
		return nil
	}
	s, ok := strings.CutPrefix(string(b), "set\n")
	if !ok {
		t.Fatalf("snapshot %q is not the suite's", b)
	}
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// contents returns every update a loaded document holds, in its snapshot or
// its log.
func contents(t *testing.T, st *docstore.Stored) []string {
	t.Helper()
	return append(decodeSet(t, st.Snapshot), updates(st.Entries)...)
}

func testCompactRacingAppends(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{KeepLast: 3})
	ctx := t.Context()
	const (
		writers    = 6
		perWriter  = 60
		compactors = 2
	)
	var (
		mu    sync.Mutex
		acked []string // updates whose Append returned
	)
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			for i := 0; i < perWriter; i++ {
				us := [][]byte{fmt.Appendf(nil, "w%d-%d", w, i)}
				if i%3 == 0 { // some Appends carry two updates
					i++
					us = append(us, fmt.Appendf(nil, "w%d-%d", w, i))
				}
				if _, err := s.Append(ctx, "race", us...); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				for _, u := range us {
					acked = append(acked, string(u))
				}
				mu.Unlock()
			}
		})
	}
	mustAppend(t, s, "race", "seed")
	mu.Lock()
	acked = append(acked, "seed")
	mu.Unlock()

	done := make(chan struct{})
	var compactorsWG sync.WaitGroup
	compactions := make([]int, compactors)
	for c := range compactors {
		compactorsWG.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				st, err := s.Load(ctx, "race")
				if err != nil {
					t.Errorf("Load: %v", err)
					return
				}
				checkSeqs(t, st)
				_, err = s.Compact(ctx, "race", encodeSet(contents(t, st)), st.LastSeq, docstore.TriggerThreshold)
				switch {
				case err == nil:
					compactions[c]++
				case errors.Is(err, docstore.ErrSeqRange):
					// Another compactor got further first: our snapshot is stale.
				default:
					t.Errorf("Compact: %v", err)
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(done)
	compactorsWG.Wait()
	if t.Failed() {
		return
	}
	if compactions[0]+compactions[1] == 0 {
		t.Fatal("no compaction succeeded")
	}
	t.Logf("%d compactions raced %d appended updates", compactions[0]+compactions[1], len(acked))

	st := mustLoad(t, s, "race")
	checkSeqs(t, st)
	got := contents(t, st)
	slices.Sort(got)
	slices.Sort(acked)
	if !slices.Equal(got, acked) {
		t.Fatalf("document holds %d updates, %d were appended; missing or duplicated: %q",
			len(got), len(acked), symmetricDiff(got, acked))
	}
	if vs := mustVersions(t, s, "race"); len(vs) > 3 {
		t.Fatalf("%d versions with KeepLast 3", len(vs))
	}
}

// symmetricDiff returns what only one of two sorted slices holds (counting
// duplicates).
func symmetricDiff(a, b []string) []string {
	var d []string
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0] == b[0]:
			a, b = a[1:], b[1:]
		case a[0] < b[0]:
			d, a = append(d, a[0]), a[1:]
		default:
			d, b = append(d, b[0]), b[1:]
		}
	}
	return append(append(d, a...), b...)
}

func testVersions(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	type made struct {
		v    docstore.Version
		snap string
	}
	var all []made
	triggers := []docstore.Trigger{docstore.TriggerThreshold, docstore.TriggerHibernate, docstore.TriggerRestore, docstore.TriggerManual}
	for i, trigger := range triggers {
		seq := mustAppend(t, s, "doc", fmt.Sprint("u", i))
		h.clock.Advance(time.Minute + time.Nanosecond)
		snap := fmt.Sprintf("snapshot %d %s", i, strings.Repeat("z", i*1000))
		v := mustCompact(t, s, "doc", snap, seq, trigger)
		want := docstore.Version{ID: v.ID, Created: stored(h.clock.Now()), Size: len(snap), Trigger: trigger, Through: seq}
		if !v.Created.Equal(want.Created) {
			t.Fatalf("Compact returned Created %v, want %v (the clock, to the microsecond)", v.Created, want.Created)
		}
		v.Created = want.Created
		if v != want {
			t.Fatalf("Compact returned %+v, want %+v", v, want)
		}
		if i > 0 && v.ID <= all[i-1].v.ID {
			t.Fatalf("version ID %d after %d", v.ID, all[i-1].v.ID)
		}
		all = append(all, made{v, snap})
	}

	vs := mustVersions(t, s, "doc")
	if len(vs) != len(all) {
		t.Fatalf("%d versions, want %d", len(vs), len(all))
	}
	for i, v := range vs {
		want := all[len(all)-1-i] // newest first
		if !v.Created.Equal(want.v.Created) {
			t.Fatalf("version %d Created %v, want %v", v.ID, v.Created, want.v.Created)
		}
		v.Created = want.v.Created
		if v != want.v {
			t.Fatalf("Versions()[%d] = %+v, want %+v", i, v, want.v)
		}
		got, data, err := s.Version(ctx, "doc", v.ID)
		if err != nil {
			t.Fatalf("Version(%d): %v", v.ID, err)
		}
		if !got.Created.Equal(want.v.Created) || got.ID != v.ID || got.Size != v.Size || got.Trigger != v.Trigger || got.Through != v.Through {
			t.Fatalf("Version(%d) = %+v, want %+v", v.ID, got, v)
		}
		if string(data) != want.snap {
			t.Fatalf("Version(%d) snapshot = %.40q…, want %.40q…", v.ID, data, want.snap)
		}
	}
	for _, id := range []int64{0, -1, all[len(all)-1].v.ID + 1, 1 << 62} {
		_, _, err := s.Version(ctx, "doc", id)
		wantErr(t, fmt.Sprintf("Version(%d)", id), err, docstore.ErrVersionNotFound)
	}
}

// compactN makes n versions of doc, advancing the clock by step before each.
func compactN(t *testing.T, h *harness, s docstore.Store, doc string, n int, step time.Duration) []docstore.Version {
	t.Helper()
	var vs []docstore.Version
	for i := range n {
		seq := mustAppend(t, s, doc, fmt.Sprint("u", i))
		h.clock.Advance(step)
		vs = append(vs, mustCompact(t, s, doc, fmt.Sprint("snapshot ", i), seq, docstore.TriggerThreshold))
	}
	return vs
}

func versionIDs(vs []docstore.Version) []int64 {
	ids := make([]int64, len(vs))
	for i, v := range vs {
		ids[i] = v.ID
	}
	return ids
}

// checkKept checks that exactly the versions want (newest first) remain.
func checkKept(t *testing.T, s docstore.Store, doc string, want []docstore.Version) {
	t.Helper()
	got := versionIDs(mustVersions(t, s, doc))
	if w := versionIDs(want); !slices.Equal(got, w) {
		t.Fatalf("versions kept: %v, want %v", got, w)
	}
	if info := mustInfo(t, s, doc); info.Versions != len(want) {
		t.Fatalf("Info.Versions = %d, want %d", info.Versions, len(want))
	}
}

func testRetentionKeepLast(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{KeepLast: 3})
	vs := compactN(t, h, s, "doc", 2, time.Second)
	checkKept(t, s, "doc", []docstore.Version{vs[1], vs[0]})
	vs = append(vs, compactN(t, h, s, "doc", 4, time.Second)...)
	checkKept(t, s, "doc", []docstore.Version{vs[5], vs[4], vs[3]})
	_, _, err := s.Version(t.Context(), "doc", vs[2].ID)
	wantErr(t, "Version of a version removed by retention", err, docstore.ErrVersionNotFound)

	// Retention works per document.
	other := compactN(t, h, s, "other", 1, time.Second)
	checkKept(t, s, "other", other)
	checkKept(t, s, "doc", []docstore.Version{vs[5], vs[4], vs[3]})

	// KeepLast 1 keeps only the base, and Load still finds it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s1 := h.store(t, docstore.Retention{KeepLast: 1})
	vs = compactN(t, h, s1, "doc", 3, time.Second)
	checkKept(t, s1, "doc", vs[2:])
	if st := mustLoad(t, s1, "doc"); st.Version != vs[2].ID || string(st.Snapshot) != "snapshot 2" {
		t.Fatalf("Load with KeepLast 1 = version %d %q", st.Version, st.Snapshot)
	}
}

func testRetentionMaxAge(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{MaxAge: time.Hour})
	vs := compactN(t, h, s, "doc", 3, 20*time.Minute) // at 20, 40, 60 min
	checkKept(t, s, "doc", []docstore.Version{vs[2], vs[1], vs[0]})
	// At 85 min, the version of 20 min is 65 min old.
	vs = append(vs, compactN(t, h, s, "doc", 1, 25*time.Minute)...)
	checkKept(t, s, "doc", []docstore.Version{vs[3], vs[2], vs[1]})
	// Ten hours later, only the new base remains.
	vs = append(vs, compactN(t, h, s, "doc", 1, 10*time.Hour)...)
	checkKept(t, s, "doc", vs[4:])
	if st := mustLoad(t, s, "doc"); st.Version != vs[4].ID {
		t.Fatalf("Load: version %d, want the base %d", st.Version, vs[4].ID)
	}
	// Time alone removes nothing: retention runs when a document is compacted.
	h.clock.Advance(100 * time.Hour)
	checkKept(t, s, "doc", vs[4:])
}

func testRetentionBoth(t *testing.T, h *harness) {
	// A version goes when either limit says so.
	s := h.store(t, docstore.Retention{KeepLast: 3, MaxAge: time.Hour})
	vs := compactN(t, h, s, "doc", 4, time.Minute)
	checkKept(t, s, "doc", []docstore.Version{vs[3], vs[2], vs[1]})
	vs = append(vs, compactN(t, h, s, "doc", 1, 59*time.Minute)...) // vs[1] (at 2 min) is now 62 min old
	checkKept(t, s, "doc", []docstore.Version{vs[4], vs[3], vs[2]})
}

func testInfo(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	created := stored(h.clock.Now())
	first := mustAppend(t, s, "doc", "aa", "bbb")
	h.clock.Advance(time.Second)
	mustAppend(t, s, "doc", "cccc")
	check := func(what string, got, want docstore.DocumentInfo) {
		t.Helper()
		if !got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
			t.Fatalf("%s: Created, Updated = %v, %v; want %v, %v", what, got.Created, got.Updated, want.Created, want.Updated)
		}
		got.Created, got.Updated = want.Created, want.Updated
		if got != want {
			t.Fatalf("%s = %+v\nwant %+v", what, got, want)
		}
	}
	info := mustInfo(t, s, "doc")
	want := docstore.DocumentInfo{Name: "doc", Created: created, Updated: stored(h.clock.Now()),
		LastSeq: info.LastSeq, LogEntries: 3, LogBytes: 9}
	check("Info after appends", info, want)

	h.clock.Advance(time.Second)
	v := mustCompact(t, s, "doc", "snapshot!", first, docstore.TriggerThreshold)
	want.Updated, want.Version, want.SnapshotSize, want.Versions = stored(h.clock.Now()), v.ID, 9, 1
	want.LogEntries, want.LogBytes = 1, 4
	check("Info after Compact", mustInfo(t, s, "doc"), want)

	h.clock.Advance(time.Second)
	mustCompact(t, s, "other", "o", 0, docstore.TriggerRestore)
	docs, err := s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("Documents = %+v, want 2", docs)
	}
	check("Documents()[0]", docs[0], want)
	check("Info", mustInfo(t, s, "doc"), want)
	o := docs[1]
	if o.Name != "other" || !o.Created.Equal(stored(h.clock.Now())) || o.SnapshotSize != 1 || o.Versions != 1 || o.LogEntries != 0 || o.LastSeq != 0 {
		t.Fatalf("Documents()[1] = %+v", o)
	}
}

// appendConcurrently runs writers goroutines each appending perWriter updates
// to the documents docs (round robin) and checks that every document holds
// exactly its updates, with seqs that increase in each writer's order.
func appendConcurrently(t *testing.T, s docstore.Store, docs []string, writers, perWriter int) {
	ctx := t.Context()
	type ack struct {
		doc, update string
		seq         int64
	}
	acks := make([][]ack, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				doc := docs[(w+i)%len(docs)]
				u := fmt.Sprintf("w%d-%d", w, i)
				seq, err := s.Append(ctx, doc, []byte(u))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				acks[w] = append(acks[w], ack{doc, u, seq})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	want := map[string]map[int64]string{}
	for _, d := range docs {
		want[d] = map[int64]string{}
	}
	for _, as := range acks {
		last := map[string]int64{}
		for _, a := range as {
			if a.seq <= last[a.doc] {
				t.Fatalf("%q: seq %d after this writer's %d", a.doc, a.seq, last[a.doc])
			}
			last[a.doc] = a.seq
			if prev, dup := want[a.doc][a.seq]; dup {
				t.Fatalf("%q: seq %d returned for %q and %q", a.doc, a.seq, prev, a.update)
			}
			want[a.doc][a.seq] = a.update
		}
	}
	for _, d := range docs {
		st := mustLoad(t, s, d)
		checkSeqs(t, st)
		if len(st.Entries) != len(want[d]) {
			t.Fatalf("%q holds %d entries, %d were appended", d, len(st.Entries), len(want[d]))
		}
		for _, e := range st.Entries {
			if w := want[d][e.Seq]; string(e.Update) != w {
				t.Fatalf("%q: seq %d holds %q, want %q", d, e.Seq, e.Update, w)
			}
		}
	}
}

func testConcurrentAppendsOne(t *testing.T, h *harness) {
	appendConcurrently(t, h.store(t, docstore.Retention{}), []string{"one"}, 32, 20)
}

func testConcurrentAppendsMany(t *testing.T, h *harness) {
	docs := make([]string, 50)
	for i := range docs {
		docs[i] = fmt.Sprintf("room/%d", i)
	}
	appendConcurrently(t, h.store(t, docstore.Retention{}), docs, 32, 25)
}

func testLargeValues(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	big := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7) + byte(i>>11)
		}
		return b
	}
	u1, u2 := big(1<<20, 1), big(3<<20, 2)
	seq, err := s.Append(t.Context(), "big", u1, u2)
	if err != nil {
		t.Fatal(err)
	}
	snap := big(6<<20, 3)
	if _, err := s.Compact(t.Context(), "big", snap, seq-1, docstore.TriggerThreshold); err != nil {
		t.Fatal(err)
	}
	st := mustLoad(t, s, "big")
	if !bytes.Equal(st.Snapshot, snap) || len(st.Entries) != 1 || !bytes.Equal(st.Entries[0].Update, u2) {
		t.Fatalf("large values did not round-trip")
	}
}

// cancelled returns a context that is already cancelled.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func testContext(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	seq := mustAppend(t, s, "doc", "a")
	ctx := cancelled()
	_, err := s.Append(ctx, "doc", []byte("b"))
	wantErr(t, "Append", err, context.Canceled)
	_, err = s.Append(ctx, "new", []byte("b"))
	wantErr(t, "Append", err, context.Canceled)
	_, err = s.Compact(ctx, "doc", []byte("snap"), seq, docstore.TriggerManual)
	wantErr(t, "Compact", err, context.Canceled)
	_, err = s.Load(ctx, "doc")
	wantErr(t, "Load", err, context.Canceled)
	_, err = s.Versions(ctx, "doc")
	wantErr(t, "Versions", err, context.Canceled)
	_, _, err = s.Version(ctx, "doc", 1)
	wantErr(t, "Version", err, context.Canceled)
	_, err = s.Info(ctx, "doc")
	wantErr(t, "Info", err, context.Canceled)
	_, err = s.Documents(ctx)
	wantErr(t, "Documents", err, context.Canceled)
	_, err = s.List(ctx, "", 10)
	wantErr(t, "List", err, context.Canceled)
	wantErr(t, "Delete", s.Delete(ctx, "doc"), context.Canceled)
	wantErr(t, "Ping", s.Ping(ctx), context.Canceled)

	st := mustLoad(t, s, "doc")
	checkEntries(t, st, []string{"a"})
	if st.Snapshot != nil {
		t.Fatal("Compact with a cancelled context stored a snapshot")
	}
	if _, err := s.Load(t.Context(), "new"); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("Append with a cancelled context created a document: %v", err)
	}
}

func testClose(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	mustAppend(t, s, "doc", "a")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := t.Context()
	_, err := s.Append(ctx, "doc", []byte("b"))
	wantErr(t, "Append", err, docstore.ErrClosed)
	_, err = s.Compact(ctx, "doc", []byte("snap"), 1, docstore.TriggerManual)
	wantErr(t, "Compact", err, docstore.ErrClosed)
	_, err = s.Load(ctx, "doc")
	wantErr(t, "Load", err, docstore.ErrClosed)
	_, err = s.Versions(ctx, "doc")
	wantErr(t, "Versions", err, docstore.ErrClosed)
	_, _, err = s.Version(ctx, "doc", 1)
	wantErr(t, "Version", err, docstore.ErrClosed)
	_, err = s.Info(ctx, "doc")
	wantErr(t, "Info", err, docstore.ErrClosed)
	_, err = s.Documents(ctx)
	wantErr(t, "Documents", err, docstore.ErrClosed)
	_, err = s.List(ctx, "", 10)
	wantErr(t, "List", err, docstore.ErrClosed)
	wantErr(t, "Delete", s.Delete(ctx, "doc"), docstore.ErrClosed)
	wantErr(t, "Ping", s.Ping(ctx), docstore.ErrClosed)
}

func testCloseRacing(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
	)
	started := make(chan struct{}, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				u := fmt.Sprintf("w%d-%d", w, i)
				_, err := s.Append(ctx, "doc", []byte(u))
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, docstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append racing Close: %v", err)
					return
				}
				mu.Lock()
				acked = append(acked, u)
				mu.Unlock()
				if _, err := s.Load(ctx, "doc"); err != nil && !errors.Is(err, docstore.ErrClosed) {
					t.Errorf("Load racing Close: %v", err)
					return
				}
			}
		})
	}
	for range 16 {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()

	// Every Append that succeeded is there after reopening.
	s = h.store(t, docstore.Retention{})
	got := updates(mustLoad(t, s, "doc").Entries)
	slices.Sort(got)
	slices.Sort(acked)
	if !slices.Equal(got, acked) {
		t.Fatalf("after Close raced Appends: stored %d, %d acknowledged; differences %q", len(got), len(acked), symmetricDiff(got, acked))
	}
}

func testReopen(t *testing.T, h *harness) {
	r := docstore.Retention{KeepLast: 2}
	s := h.store(t, r)
	for i, n := range names() {
		mustAppend(t, s, n, "a", "b")
		if i%3 == 0 {
			compactN(t, h, s, n, 3, time.Second)
			mustAppend(t, s, n, "c")
		}
	}
	type state struct {
		st   *docstore.Stored
		vs   []docstore.Version
		info docstore.DocumentInfo
	}
	snapshot := func(s docstore.Store) map[string]state {
		m := map[string]state{}
		for _, n := range names() {
			m[n] = state{mustLoad(t, s, n), mustVersions(t, s, n), mustInfo(t, s, n)}
		}
		return m
	}
	before := snapshot(s)
	docsBefore, err := s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = h.store(t, r)
	after := snapshot(s)
	for n, b := range before {
		a := after[n]
		if !equalStored(a.st, b.st) {
			t.Fatalf("%q: Load after reopen = %+v, before %+v", n, a.st, b.st)
		}
		if !equalVersions(a.vs, b.vs) {
			t.Fatalf("%q: Versions after reopen = %+v, before %+v", n, a.vs, b.vs)
		}
		if !equalInfo(a.info, b.info) {
			t.Fatalf("%q: Info after reopen = %+v, before %+v", n, a.info, b.info)
		}
	}
	docsAfter, err := s.Documents(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(docsBefore, docsAfter, equalInfo) {
		t.Fatalf("Documents after reopen = %+v\nbefore %+v", docsAfter, docsBefore)
	}
	// Seqs and version IDs carry on after reopening.
	n := names()[0]
	if seq := mustAppend(t, s, n, "d"); seq <= before[n].st.LastSeq {
		t.Fatalf("seq after reopen %d, want > %d", seq, before[n].st.LastSeq)
	}
	if v := mustCompact(t, s, n, "again", mustInfo(t, s, n).LastSeq, docstore.TriggerManual); v.ID <= before[n].st.Version {
		t.Fatalf("version ID after reopen %d, want > %d", v.ID, before[n].st.Version)
	}
}

func equalStored(a, b *docstore.Stored) bool {
	return bytes.Equal(a.Snapshot, b.Snapshot) && a.Version == b.Version && a.Through == b.Through &&
		a.LastSeq == b.LastSeq && slices.EqualFunc(a.Entries, b.Entries, func(x, y docstore.Entry) bool {
		return x.Seq == y.Seq && bytes.Equal(x.Update, y.Update)
	})
}

func equalVersions(a, b []docstore.Version) bool {
	return slices.EqualFunc(a, b, func(x, y docstore.Version) bool {
		x.Created, y.Created = x.Created.UTC(), y.Created.UTC()
		return x == y
	})
}

func equalInfo(a, b docstore.DocumentInfo) bool {
	a.Created, b.Created = a.Created.UTC(), b.Created.UTC()
	a.Updated, b.Updated = a.Updated.UTC(), b.Updated.UTC()
	return a == b
}

// ReportLatency reports the 50th and 99th percentiles of single
// operations' latencies, gathered by several goroutines, as the custom
// benchmark metrics p50-ms and p99-ms (the store benchmarks use it for the
// latency durability adds to an update under load).
func ReportLatency(b *testing.B, lat [][]time.Duration) {
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	at := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// AppendParallel has 64 goroutines (over GOMAXPROCS) append updateSize-byte
// updates to documents picked at random from names until b.N are done, as
// the rooms of a busy server do; it reports the latency of single Appends
// (ReportLatency) and returns how many were appended.
func AppendParallel(b *testing.B, s docstore.Store, names []string, updateSize int) int64 {
	var (
		n, worker atomic.Int64
		mu        sync.Mutex
		lat       [][]time.Duration
	)
	ctx := b.Context()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		rnd := rand.New(rand.NewPCG(uint64(worker.Add(1)), 0))
		u := make([]byte, updateSize)
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if _, err := s.Append(ctx, names[rnd.IntN(len(names))], u); err != nil {
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
	ReportLatency(b, lat)
	return n.Load()
}

// asyncResult is one answer of AppendAsync.
type asyncResult struct {
	seq int64
	err error
}

// appendAsync calls AppendAsync and returns a channel that gets its
// answer; the test fails if done is called more than once.
func appendAsync(t *testing.T, s docstore.AsyncAppender, doc string, updates ...string) <-chan asyncResult {
	t.Helper()
	bs := make([][]byte, len(updates))
	for i, u := range updates {
		bs[i] = []byte(u)
	}
	ch := make(chan asyncResult, 2)
	var calls atomic.Int32
	s.AppendAsync(doc, bs, func(seq int64, err error) {
		if calls.Add(1) > 1 {
			t.Errorf("AppendAsync(%q): done called again (%d, %v)", doc, seq, err)
			return
		}
		ch <- asyncResult{seq, err}
	})
	// AppendAsync keeps no reference to the updates.
	for _, b := range bs {
		clear(b)
	}
	return ch
}

func testAppendAsync(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	as, ok := s.(docstore.AsyncAppender)
	if !ok {
		t.Skipf("%T does not implement docstore.AsyncAppender", s)
	}
	ctx := t.Context()
	wait := func(ch <-chan asyncResult) asyncResult {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("AppendAsync: done not called in 30 s")
		}
		return asyncResult{}
	}

	// Answers carry the seqs Append would return, and the updates are
	// stored in order with Append's.
	r := wait(appendAsync(t, as, "doc", "a", "b"))
	if r.err != nil || r.seq <= 0 {
		t.Fatalf("AppendAsync = %d, %v; want a seq > 0", r.seq, r.err)
	}
	seq := mustAppend(t, s, "doc", "c")
	if seq != r.seq+1 {
		t.Fatalf("Append after AppendAsync ending at %d = %d, want %d", r.seq, seq, r.seq+1)
	}
	checkEntries(t, mustLoad(t, s, "doc"), []string{"a", "b", "c"})

	// Many at once, over several documents, share commits and each gets
	// its own consecutive seqs.
	const docs, per = 5, 40
	chans := make([][]<-chan asyncResult, docs)
	for i := range per {
		for d := range docs {
			chans[d] = append(chans[d], appendAsync(t, as, fmt.Sprintf("many-%d", d), fmt.Sprint(i)))
		}
	}
	for d := range docs {
		var want []string
		last := int64(0)
		for i, ch := range chans[d] {
			r := wait(ch)
			if r.err != nil {
				t.Fatalf("AppendAsync many-%d #%d: %v", d, i, r.err)
			}
			if r.seq <= last {
				t.Fatalf("AppendAsync many-%d #%d: seq %d after %d", d, i, r.seq, last)
			}
			last = r.seq
			want = append(want, fmt.Sprint(i))
		}
		checkEntries(t, mustLoad(t, s, fmt.Sprintf("many-%d", d)), want)
	}

	// Bad arguments are answered with Append's errors, and store nothing.
	wantErr(t, "AppendAsync(no updates)", wait(appendAsync(t, as, "doc")).err, docstore.ErrEmpty)
	wantErr(t, "AppendAsync(empty update)", wait(appendAsync(t, as, "doc", "")).err, docstore.ErrEmpty)
	wantErr(t, "AppendAsync(bad name)", wait(appendAsync(t, as, "", "x")).err, docstore.ErrInvalidName)
	checkEntries(t, mustLoad(t, s, "doc"), []string{"a", "b", "c"})
	if _, err := s.Load(ctx, "new"); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("Load(new) = %v, want ErrNotFound", err)
	}

	// Appends queued when Close starts are answered (committed), and
	// later ones get ErrClosed.
	pending := make([]<-chan asyncResult, 0, 20)
	for i := range cap(pending) {
		pending = append(pending, appendAsync(t, as, "closing", fmt.Sprint(i)))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, ch := range pending {
		if r := wait(ch); r.err != nil {
			t.Fatalf("AppendAsync queued before Close #%d: %v", i, r.err)
		}
	}
	wantErr(t, "AppendAsync after Close", wait(appendAsync(t, as, "doc", "d")).err, docstore.ErrClosed)
	var want []string
	for i := range cap(pending) {
		want = append(want, fmt.Sprint(i))
	}
	checkEntries(t, mustLoad(t, h.store(t, docstore.Retention{}), "closing"), want)
}

// checkGone checks that doc is not stored: every read says ErrNotFound and
// the listings leave it out.
func checkGone(t *testing.T, s docstore.Store, doc string) {
	t.Helper()
	ctx := t.Context()
	_, err := s.Load(ctx, doc)
	wantErr(t, "Load", err, docstore.ErrNotFound)
	_, err = s.Info(ctx, doc)
	wantErr(t, "Info", err, docstore.ErrNotFound)
	_, err = s.Versions(ctx, doc)
	wantErr(t, "Versions", err, docstore.ErrNotFound)
	_, _, err = s.Version(ctx, doc, 1)
	wantErr(t, "Version 1", err, docstore.ErrNotFound)
	docs, err := s.Documents(ctx)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	page, err := s.List(ctx, "", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, d := range slices.Concat(docs, page) {
		if d.Name == doc {
			t.Fatalf("Documents or List lists deleted %q: %+v", doc, d)
		}
	}
}

func testDelete(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	// One document with a log, versions and a log after them, one never
	// compacted, one created by Compact alone, and a neighbour that must
	// survive (its name has the deleted one's as a prefix).
	seq := mustAppend(t, s, "doc", "a", "b")
	mustCompact(t, s, "doc", "v1", seq-1, docstore.TriggerThreshold)
	mustCompact(t, s, "doc", "v2", seq, docstore.TriggerManual)
	mustAppend(t, s, "doc", "c")
	mustAppend(t, s, "log-only", "x")
	mustCompact(t, s, "snapshot-only", "s", 0, docstore.TriggerRestore)
	mustAppend(t, s, "doc2", "keep")
	before := mustLoad(t, s, "doc2")

	for _, doc := range []string{"doc", "log-only", "snapshot-only"} {
		if err := s.Delete(ctx, doc); err != nil {
			t.Fatalf("Delete(%q): %v", doc, err)
		}
		checkGone(t, s, doc)
		wantErr(t, fmt.Sprintf("Delete(%q) again", doc), s.Delete(ctx, doc), docstore.ErrNotFound)
	}
	// doc's versions went with it, whatever their IDs were.
	for id := int64(1); id <= 3; id++ {
		_, _, err := s.Version(ctx, "doc", id)
		wantErr(t, fmt.Sprintf("Version %d of deleted doc", id), err, docstore.ErrNotFound)
	}
	if after := mustLoad(t, s, "doc2"); !equalStored(after, before) {
		t.Fatalf("doc2 after deleting doc = %+v, want %+v", after, before)
	}
	docs, err := s.Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Name != "doc2" {
		t.Fatalf("Documents after the deletes = %+v, want only doc2", docs)
	}
	wantErr(t, "Delete of a never written document", s.Delete(ctx, "never"), docstore.ErrNotFound)
}

func testDeleteRecreate(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	created := stored(h.clock.Now())
	for i := range 5 {
		mustAppend(t, s, "doc", fmt.Sprintf("old-%d", i))
	}
	old := mustLoad(t, s, "doc")
	mustCompact(t, s, "doc", "old snapshot", old.LastSeq-1, docstore.TriggerThreshold)
	mustAppend(t, s, "doc", "old-last")
	if err := s.Delete(ctx, "doc"); err != nil {
		t.Fatal(err)
	}

	// An Append creates a new document holding only the new updates.
	h.clock.Advance(time.Hour)
	recreated := stored(h.clock.Now())
	first := mustAppend(t, s, "doc", "new-1")
	if first <= 0 {
		t.Fatalf("first seq of the new document = %d, want > 0", first)
	}
	mustAppend(t, s, "doc", "new-2", "new-3")
	st := mustLoad(t, s, "doc")
	checkEntries(t, st, []string{"new-1", "new-2", "new-3"})
	if st.Snapshot != nil || st.Version != 0 || st.Through != 0 {
		t.Fatalf("new document: Snapshot %q, Version %d, Through %d; want nil, 0, 0", st.Snapshot, st.Version, st.Through)
	}
	if vs := mustVersions(t, s, "doc"); len(vs) != 0 {
		t.Fatalf("new document has versions %+v, want none", vs)
	}
	info := mustInfo(t, s, "doc")
	if !info.Created.Equal(recreated) || info.Created.Equal(created) || info.Versions != 0 || info.LogEntries != 3 ||
		info.LogBytes != 15 || info.Version != 0 || info.SnapshotSize != 0 {
		t.Fatalf("Info of the new document = %+v (created %v)", info, recreated)
	}
	// Its history is its own: compacting works as on any new document.
	v := mustCompact(t, s, "doc", "new snapshot", st.LastSeq, docstore.TriggerManual)
	if v.ID <= 0 {
		t.Fatalf("version ID %d, want > 0", v.ID)
	}
	if vs := mustVersions(t, s, "doc"); len(vs) != 1 || vs[0].ID != v.ID {
		t.Fatalf("Versions of the new document = %+v, want only %+v", vs, v)
	}
	if seq := mustAppend(t, s, "doc", "new-4"); seq <= st.LastSeq {
		t.Fatalf("seq %d after %d", seq, st.LastSeq)
	}

	// A Compact with throughSeq 0 creates it anew too, not one with a
	// higher throughSeq.
	if err := s.Delete(ctx, "doc"); err != nil {
		t.Fatal(err)
	}
	_, err := s.Compact(ctx, "doc", []byte("snap"), 1, docstore.TriggerManual)
	wantErr(t, "Compact through 1 after Delete", err, docstore.ErrSeqRange)
	mustCompact(t, s, "doc", "fresh", 0, docstore.TriggerRestore)
	st = mustLoad(t, s, "doc")
	if string(st.Snapshot) != "fresh" || len(st.Entries) != 0 || st.LastSeq != 0 {
		t.Fatalf("document created by Compact after Delete: %+v", st)
	}
	if vs := mustVersions(t, s, "doc"); len(vs) != 1 {
		t.Fatalf("Versions = %+v, want 1", vs)
	}
	mustAppend(t, s, "doc", "after")
	checkEntries(t, mustLoad(t, s, "doc"), []string{"after"})
}

// testDeleteReopen checks that a Delete is durable: a deleted document does
// not come back when the store is opened again, and a document created anew
// after the Delete comes back with its own content only.
func testDeleteReopen(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	for _, doc := range []string{"gone", "again", "kept"} {
		for i := range 3 {
			mustAppend(t, s, doc, fmt.Sprintf("%s-%d", doc, i))
		}
	}
	mustCompact(t, s, "again", "snap", 2, docstore.TriggerThreshold)
	for _, doc := range []string{"gone", "again"} {
		if err := s.Delete(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, s, "again", "new")
	kept := mustLoad(t, s, "kept")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = h.store(t, docstore.Retention{})
	checkGone(t, s, "gone")
	checkEntries(t, mustLoad(t, s, "again"), []string{"new"})
	if vs := mustVersions(t, s, "again"); len(vs) != 0 {
		t.Fatalf("versions of the recreated document after reopen: %+v", vs)
	}
	if got := mustLoad(t, s, "kept"); !equalStored(got, kept) {
		t.Fatalf("kept after reopen = %+v, want %+v", got, kept)
	}
}

// testDeleteRacingAppends races Deletes of one document against Appends to
// it. Each Append lands before or after each Delete: at the end the
// document holds every update whose Append started after the last Delete
// returned, none whose Append returned before the last Delete was called,
// and its entries have increasing seqs.
func testDeleteRacingAppends(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	const (
		writers = 8
		deletes = 10
	)
	var (
		started, finished atomic.Int64 // Deletes called, Deletes returned
		afterLast         atomic.Int64 // Appends started after the last Delete returned
		wg                sync.WaitGroup
		stop              = make(chan struct{})
	)
	type ack struct {
		update                       string
		finishedBefore, startedAfter int64
	}
	acks := make([][]ack, writers)
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := fmt.Sprintf("w%d-%d", w, i)
				before := finished.Load()
				if _, err := s.Append(ctx, "doc", []byte(u)); err != nil {
					t.Errorf("Append racing Delete: %v", err)
					return
				}
				acks[w] = append(acks[w], ack{u, before, started.Load()})
				if before == deletes {
					afterLast.Add(1)
				}
				if i%4 == 0 {
					// A reader sees one document or none, never a broken one.
					if st, err := s.Load(ctx, "doc"); err == nil {
						if err := seqsIncrease(st); err != nil {
							t.Errorf("Load racing Delete: %v", err)
							return
						}
					} else if !errors.Is(err, docstore.ErrNotFound) {
						t.Errorf("Load racing Delete: %v", err)
						return
					}
				}
			}
		})
	}
	for range deletes {
		time.Sleep(2 * time.Millisecond)
		started.Add(1)
		if err := s.Delete(ctx, "doc"); err != nil && !errors.Is(err, docstore.ErrNotFound) {
			t.Errorf("Delete racing Appends: %v", err)
		}
		finished.Add(1)
	}
	// Some Appends after the last Delete, however slow the machine.
	for deadline := time.Now().Add(10 * time.Second); afterLast.Load() < writers && time.Now().Before(deadline) && !t.Failed(); {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}

	got := map[string]bool{}
	st, err := s.Load(ctx, "doc")
	switch {
	case err == nil:
		checkSeqs(t, st)
		for _, u := range updates(st.Entries) {
			if got[u] {
				t.Fatalf("%q stored twice", u)
			}
			got[u] = true
		}
	case !errors.Is(err, docstore.ErrNotFound):
		t.Fatalf("Load after the race: %v", err)
	}
	var after, gone int
	for _, as := range acks {
		for _, a := range as {
			switch {
			case a.finishedBefore == deletes:
				after++
				if !got[a.update] {
					t.Fatalf("%q, appended after the last Delete, is missing", a.update)
				}
			case a.startedAfter < deletes:
				gone++
				if got[a.update] {
					t.Fatalf("%q, appended before the last Delete, is still there", a.update)
				}
			}
		}
	}
	if after == 0 {
		t.Fatalf("no Append after the last Delete: the test checked nothing")
	}
	t.Logf("%d entries stored: %d appended after the last Delete, %d deleted for sure", len(got), after, gone)
}

func testList(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	ctx := t.Context()
	var want []string
	for i := range 25 {
		// Inserted out of order; names with shared prefixes and bytes
		// above ASCII, which sort bytewise.
		doc := fmt.Sprintf("doc/%02d", (i*7)%25)
		if i%5 == 0 {
			doc += "/ü"
		}
		mustAppend(t, s, doc, strings.Repeat("u", i+1))
		want = append(want, doc)
	}
	slices.Sort(want)
	all, err := s.Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var got []string
	after, pages := "", 0
	for {
		page, err := s.List(ctx, after, 10)
		if err != nil {
			t.Fatalf("List(%q, 10): %v", after, err)
		}
		if page == nil {
			t.Fatalf("List(%q, 10) = nil, want an empty slice", after)
		}
		if len(page) > 10 {
			t.Fatalf("List(%q, 10) returned %d", after, len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			i, found := slices.BinarySearchFunc(all, d.Name, func(a docstore.DocumentInfo, n string) int { return strings.Compare(a.Name, n) })
			if !found || !equalInfo(d, all[i]) {
				t.Fatalf("List entry %+v differs from Documents'", d)
			}
			got = append(got, d.Name)
		}
		after = page[len(page)-1].Name
		pages++
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages of List = %q\nwant %q", got, want)
	}
	if pages != 3 {
		t.Fatalf("%d non-empty pages of 10 for 25 documents, want 3", pages)
	}

	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, want},                    // default: up to MaxList
		{"", -1, want},                   // likewise
		{"", docstore.MaxList + 1, want}, // capped
		{"", 3, want[:3]},
		{want[0], 2, want[1:3]},
		{"doc/04x", 2, []string{"doc/05/ü", "doc/06"}}, // after a name that is not stored
		{"doc/05", 1, []string{"doc/05/ü"}},            // after a prefix of a name
		{"a", 1, want[:1]},
		{want[len(want)-1], 10, nil},
		{"zzz", 10, nil},
	}
	for _, tt := range tests {
		page, err := s.List(ctx, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", tt.after, tt.limit, err)
		}
		var names []string
		for _, d := range page {
			names = append(names, d.Name)
		}
		if !slices.Equal(names, tt.want) {
			t.Errorf("List(%q, %d) = %q, want %q", tt.after, tt.limit, names, tt.want)
		}
	}

	// Deleted documents leave the pages.
	if err := s.Delete(ctx, want[1]); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, want[0], 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Name != want[2] || page[1].Name != want[3] {
		t.Fatalf("List after deleting %q = %+v", want[1], page)
	}
}
