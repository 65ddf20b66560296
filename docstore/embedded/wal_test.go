package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/collabd/collabd/docstore"
)

// encodeLog encodes writes as the committer does: records numbered by
// write, the last of each flagged.
func encodeLog(writes ...[]walRecord) []byte {
	var buf []byte
	for w, recs := range writes {
		for i, r := range recs {
			r.write, r.last = uint64(w+1), i == len(recs)-1
			buf = appendWALRecord(buf, &r)
		}
	}
	return buf
}

// storeIDOf returns the store ID of the closed database file at path.
func storeIDOf(t *testing.T, path string) storeID {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id storeID
	err = db.View(func(tx *bolt.Tx) error {
		_, err := checkMeta(tx, tx.Bucket(bucketMeta), &id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// logFile returns the log file of the closed database file at path
// holding body (records).
func logFile(t *testing.T, path string, body []byte) []byte {
	t.Helper()
	return append(appendLogHeader(nil, storeIDOf(t, path)), body...)
}

// logRecords returns the records of the log file at path.
func logRecords(t *testing.T, path string) ([]walRecord, error) {
	t.Helper()
	data := readFile(t, path)
	if _, err := decodeLogHeader(data); err != nil {
		return nil, err
	}
	recs, _, err := scanLog(data[logHeaderLen:])
	return recs, err
}

func rec(doc string, seq int64, updates ...string) walRecord {
	r := walRecord{time: 1700000000000000 + seq, seq: seq, doc: doc}
	for _, u := range updates {
		r.updates = append(r.updates, []byte(u))
	}
	return r
}

func TestWALRecordRoundTrip(t *testing.T) {
	recs := []walRecord{
		{last: true, write: 1, time: 0, seq: 1, doc: "d", updates: [][]byte{{1}}},
		{write: 1 << 40, time: 1 << 60, seq: 1<<63 - 3, doc: strings.Repeat("ü", 256), updates: [][]byte{{1, 2}, bytes.Repeat([]byte{7}, 300), {3}}},
	}
	for _, r := range recs {
		b := appendWALRecord([]byte("prefix"), &r)[len("prefix"):]
		if len(b) != r.size() {
			t.Errorf("encoded %d bytes, size() = %d", len(b), r.size())
		}
		got, n, err := decodeWALRecord(append(b, "next record"...))
		if err != nil || n != len(b) {
			t.Fatalf("decode: %d bytes, %v; want %d", n, err, len(b))
		}
		if got.last != r.last || got.write != r.write || got.time != r.time || got.seq != r.seq || got.doc != r.doc ||
			!slices.EqualFunc(got.updates, r.updates, bytes.Equal) {
			t.Fatalf("decode(encode(%+v)) = %+v", r, got)
		}
	}
}

func TestWALRecordInvalid(t *testing.T) {
	valid := rec("doc", 5, "ab", "c")
	valid.write, valid.last = 1, true
	good := appendWALRecord(nil, &valid)
	// reseal seals a body with a right checksum, so that the body's checks
	// are reached.
	reseal := appendWALRecordRaw
	body := func(edit func(r *walRecord)) []byte {
		r := valid
		edit(&r)
		return appendWALRecord(nil, &r)
	}
	tests := []struct {
		name  string
		b     []byte
		short bool
	}{
		{"empty", nil, true},
		{"header only", good[:walHeaderLen], true},
		{"cut", good[:len(good)-1], true},
		{"bad magic", append([]byte{0}, good[1:]...), false},
		{"bad checksum", append(slices.Clone(good[:len(good)-1]), good[len(good)-1]^1), false},
		{"flags", reseal(append([]byte{2}, good[walHeaderLen+1:]...)), false},
		{"write 0", body(func(r *walRecord) { r.write = 0 }), false},
		{"seq 0", body(func(r *walRecord) { r.seq = 0 }), false},
		{"negative time", body(func(r *walRecord) { r.time = -1 }), false},
		{"seqs overflow", body(func(r *walRecord) { r.seq = 1<<63 - 1 }), false},
		{"invalid name", body(func(r *walRecord) { r.doc = "a\x00b" }), false},
		{"no updates", body(func(r *walRecord) { r.updates = nil }), false},
		{"empty update", body(func(r *walRecord) { r.updates = [][]byte{{1}, {}} }), false},
		{"trailing bytes", reseal(append(slices.Clone(good[walHeaderLen:]), 0)), false},
		{"body too short", reseal(good[walHeaderLen : walHeaderLen+10]), false},
	}
	for _, tt := range tests {
		_, _, err := decodeWALRecord(tt.b)
		if tt.short && err != errWALShort || !tt.short && !errors.Is(err, docstore.ErrCorrupt) {
			t.Errorf("%s: decode = %v, want short %v", tt.name, err, tt.short)
		}
	}
}

// appendWALRecordRaw seals body as a record with a correct checksum.
func appendWALRecordRaw(body []byte) []byte {
	b := appendWALRecord(nil, &walRecord{doc: "x", updates: [][]byte{{1}}})[:walHeaderLen]
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(body)))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}

// FuzzDecodeWALRecord: the decoder never panics, reports errors wrapping
// ErrCorrupt (or errWALShort), and what it accepts encodes back to the
// same bytes.
func FuzzDecodeWALRecord(f *testing.F) {
	f.Add(encodeLog([]walRecord{rec("doc", 1, "ab")}))
	f.Add(encodeLog([]walRecord{rec("a", 3, "x", "yy", "zzz"), rec("b/ü", 1<<40, "u")}))
	f.Add([]byte{0xc0, 0x11, 0xab, 0x0d, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := decodeWALRecord(b)
		if err != nil {
			if err != errWALShort && !errors.Is(err, docstore.ErrCorrupt) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if got := appendWALRecord(nil, &r); !bytes.Equal(got, b[:n]) {
			t.Fatalf("decode then encode changed %x to %x", b[:n], got)
		}
		// The scanner accepts what the decoder does, and never panics.
		_, _, _ = scanLog(b)
	})
}

// TestReplayTornTail cuts a log at every byte offset, as a crash during
// the last write can, with the rest missing or zeroed: Open replays every
// whole record before the cut, drops the rest and starts a fresh log.
func TestReplayTornTail(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	s := openT(t, base, Options{})
	if _, err := s.Append(t.Context(), "a", []byte("a0")); err != nil { // bbolt holds seq 1 of "a"
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	id := storeIDOf(t, base)
	writes := [][]walRecord{
		{rec("a", 2, "a1"), rec("b", 1, "b1", "b2")},
		{rec("a", 3, "a2")},
		{rec("c", 1, "c1"), rec("a", 4, "a3", "a4"), rec("b", 3, "b3")},
	}
	log := encodeLog(writes...)
	var ends []int // where each record ends
	var all []walRecord
	for off := 0; off < len(log); {
		r, n, err := decodeWALRecord(log[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
		ends = append(ends, off)
		all = append(all, r)
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for cut := 0; cut <= len(log); cut += step {
		for _, zeroed := range []bool{false, true} {
			if zeroed && cut == len(log) {
				continue
			}
			path := filepath.Join(dir, "torn.db")
			torn := slices.Clone(log[:cut])
			if zeroed {
				torn = append(torn, make([]byte, len(log)-cut)...)
			}
			writeFile(t, path, db)
			writeFile(t, path+"-wal", append(appendLogHeader(nil, id), torn...))

			want := map[string][]string{"a": {"a0"}}
			for i, r := range all {
				if ends[i] <= cut {
					for _, u := range r.updates {
						want[r.doc] = append(want[r.doc], string(u))
					}
				}
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("cut at %d (zeroed %v): Open: %v", cut, zeroed, err)
			}
			if recs, err := logRecords(t, path+"-wal"); err != nil || len(recs) != 0 {
				t.Fatalf("cut at %d: log after Open holds %d records, %v; want a fresh one", cut, len(recs), err)
			}
			for _, doc := range []string{"a", "b", "c"} {
				got, err := loadUpdates(s, doc)
				if errors.Is(err, docstore.ErrNotFound) && want[doc] == nil {
					continue
				}
				if err != nil || !slices.Equal(got, want[doc]) {
					t.Fatalf("cut at %d (zeroed %v): %q holds %q, %v; want %q", cut, zeroed, doc, got, err, want[doc])
				}
			}
			// The store goes on from there.
			if seq, err := s.Append(t.Context(), "a", []byte("more")); err != nil || seq != int64(len(want["a"])+1) {
				t.Fatalf("cut at %d: Append after replay = %d, %v; want seq %d", cut, seq, err, len(want["a"])+1)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("log after Close: %v, want none", err)
			}
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadUpdates returns the updates of doc's log, checking that their seqs
// are contiguous from 1 (the tests here do not compact).
func loadUpdates(s *Store, doc string) ([]string, error) {
	st, err := s.Load(context.Background(), doc)
	if err != nil {
		return nil, err
	}
	var us []string
	for i, e := range st.Entries {
		if e.Seq != int64(i+1) {
			return nil, fmt.Errorf("entry %d has seq %d", i, e.Seq)
		}
		us = append(us, string(e.Update))
	}
	if st.LastSeq != int64(len(us)) {
		return nil, fmt.Errorf("LastSeq %d with %d entries", st.LastSeq, len(us))
	}
	return us, nil
}

// TestReplayBadRecord damages one record's bytes: in the last write, it is
// a torn tail and dropped with what follows; before a later write, the log
// is corrupt and Open fails without touching the files.
func TestReplayBadRecord(t *testing.T) {
	writes := [][]walRecord{
		{rec("a", 1, "a1"), rec("b", 1, "b1")},
		{rec("a", 2, "a2")},
		{rec("a", 3, "a3"), rec("b", 2, "b2")},
	}
	log := encodeLog(writes...)
	// Offsets of the records' last bytes (inside their updates).
	var lastBytes []int
	for off := 0; off < len(log); {
		_, n, err := decodeWALRecord(log[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
		lastBytes = append(lastBytes, off-1)
	}
	tests := []struct {
		name    string
		damage  int // record whose last byte is flipped
		want    map[string][]string
		corrupt bool
	}{
		{"first of the last write", 3, map[string][]string{"a": {"a1", "a2"}, "b": {"b1"}}, false},
		{"last record", 4, map[string][]string{"a": {"a1", "a2", "a3"}, "b": {"b1"}}, false},
		{"middle write", 2, nil, true},
		{"first write", 0, nil, true},
		{"end of first write", 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "collabd.db")
			s := openT(t, path, Options{})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			damaged := slices.Clone(log)
			damaged[lastBytes[tt.damage]] ^= 0x40
			damaged = logFile(t, path, damaged)
			writeFile(t, path+"-wal", damaged)
			db := readFile(t, path)

			s, err := Open(path, Options{})
			if tt.corrupt {
				if !errors.Is(err, docstore.ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				t.Logf("error: %v", err)
				if !bytes.Equal(readFile(t, path+"-wal"), damaged) || !bytes.Equal(readFile(t, path), db) {
					t.Fatal("the failed Open changed the files")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for doc, want := range tt.want {
				if got, err := loadUpdates(s, doc); err != nil || !slices.Equal(got, want) {
					t.Fatalf("%q holds %q, %v; want %q", doc, got, err, want)
				}
			}
		})
	}
}

// TestReplayIdempotent replays logs whose records bbolt already has, all
// or some: a crash between a fold's commit and the log's replacement
// leaves such a log. Nothing is stored twice.
func TestReplayIdempotent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "collabd.db")
	s := openT(t, path, Options{FoldInterval: time.Hour})
	ctx := t.Context()
	appendAll := func(doc string, us ...string) {
		for _, u := range us {
			if _, err := s.Append(ctx, doc, []byte(u)); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendAll("a", "a1", "a2")
	appendAll("b", "b1")
	if _, err := s.Load(ctx, "a"); err != nil { // folds
		t.Fatal(err)
	}
	dbFolded := readFile(t, path) // bbolt has a1 a2 b1; nothing writes it now
	appendAll("a", "a3")
	appendAll("c", "c1")
	logAll := readFile(t, path+"-wal") // a1 a2 b1 a3 c1, all unfolded as the log goes
	if _, err := s.Info(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	dbAll := readFile(t, path) // bbolt has everything
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"a": {"a1", "a2", "a3"}, "b": {"b1"}, "c": {"c1"}}
	for _, tt := range []struct {
		name string
		db   []byte
	}{{"bbolt has some", dbFolded}, {"bbolt has all", dbAll}} {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 { // and replaying the replayed store changes nothing
				if round == 0 {
					writeFile(t, path, tt.db)
				}
				writeFile(t, path+"-wal", logAll)
				s, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				for doc, w := range want {
					got, err := loadUpdates(s, doc)
					if err != nil || !slices.Equal(got, w) {
						t.Fatalf("round %d: %q holds %q, %v; want %q", round, doc, got, err, w)
					}
					if info, err := s.Info(ctx, doc); err != nil || info.LogEntries != len(w) {
						t.Fatalf("round %d: Info(%q) = %+v, %v", round, doc, info, err)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestReplayGap: a log whose seqs do not follow the document's in bbolt
// (a log from another database file, say) cannot be folded. That document
// is refused, its records stay in the log, and the others are fine.
func TestReplayGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	s := openT(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	log := encodeLog([]walRecord{rec("gap", 2, "x"), rec("fine", 1, "f1")})
	writeFile(t, path+"-wal", logFile(t, path, log))
	s = openT(t, path, Options{})
	ctx := t.Context()
	if got, err := loadUpdates(s, "fine"); err != nil || !slices.Equal(got, []string{"f1"}) {
		t.Fatalf("fine: %q, %v", got, err)
	}
	if _, err := s.Load(ctx, "gap"); !errors.Is(err, docstore.ErrCorrupt) {
		t.Fatalf("Load(gap) = %v, want ErrCorrupt", err)
	}
	if _, err := s.Append(ctx, "gap", []byte("y")); !errors.Is(err, docstore.ErrCorrupt) {
		t.Fatalf("Append(gap) = %v, want ErrCorrupt", err)
	}
	if _, err := s.Append(ctx, "fine", []byte("f2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, docstore.ErrCorrupt) {
		t.Fatalf("Close = %v, want ErrCorrupt", err)
	}
	// The log keeps what could not be folded, and nothing else.
	recs, err := logRecords(t, path+"-wal")
	if err != nil || len(recs) != 1 || recs[0].doc != "gap" || recs[0].seq != 2 {
		t.Fatalf("log after Close: %+v, %v", recs, err)
	}
}

// TestLoadSeesUnfoldedAppends: every read folds what the log holds first.
func TestLoadSeesUnfoldedAppends(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{FoldInterval: time.Hour})
	ctx := t.Context()
	if _, err := s.Append(ctx, "new", []byte("u1"), []byte("u2")); err != nil {
		t.Fatal(err)
	}
	if n := s.unfolded.Load(); n != 1 {
		t.Fatalf("%d unfolded records, want 1", n)
	}
	if got, err := loadUpdates(s, "new"); err != nil || !slices.Equal(got, []string{"u1", "u2"}) {
		t.Fatalf("Load = %q, %v", got, err)
	}
	if n := s.unfolded.Load(); n != 0 {
		t.Fatalf("%d unfolded records after Load, want 0", n)
	}
	// Each of the other reads, on a document only the log knows.
	reads := []struct {
		name string
		read func(doc string) error
	}{
		{"Info", func(doc string) error {
			info, err := s.Info(ctx, doc)
			if err == nil && info.LogEntries != 1 {
				err = fmt.Errorf("info %+v", info)
			}
			return err
		}},
		{"Versions", func(doc string) error {
			vs, err := s.Versions(ctx, doc)
			if err == nil && len(vs) != 0 {
				err = fmt.Errorf("versions %+v", vs)
			}
			return err
		}},
		{"Version", func(doc string) error {
			if _, _, err := s.Version(ctx, doc, 1); !errors.Is(err, docstore.ErrVersionNotFound) {
				return fmt.Errorf("got %v, want ErrVersionNotFound", err)
			}
			return nil
		}},
		{"Documents", func(doc string) error {
			infos, err := s.Documents(ctx)
			if err == nil && !slices.ContainsFunc(infos, func(i docstore.DocumentInfo) bool { return i.Name == doc }) {
				err = fmt.Errorf("documents %+v", infos)
			}
			return err
		}},
		{"Compact", func(doc string) error {
			_, err := s.Compact(ctx, doc, []byte("snap"), 1, docstore.TriggerManual)
			return err
		}},
	}
	for _, r := range reads {
		doc := "doc-" + r.name
		if _, err := s.Append(ctx, doc, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := r.read(doc); err != nil {
			t.Errorf("%s of a document only in the log: %v", r.name, err)
		}
	}
}

// TestFoldsAndRotations: with a tiny log, Appends of many writers to many
// documents go through many folds and fresh logs, racing Compacts and
// Loads; everything acknowledged is there once, before and after
// reopening, and the log is gone after Close.
func TestFoldsAndRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	var rotations, folds int // the committer's; read after Close
	s := openT(t, path, Options{LogSize: 2 << 10, FoldInterval: time.Millisecond, MaxBatch: 8,
		hook: func(event string) {
			switch event {
			case "rotate-renamed":
				rotations++
			case "fold-committed":
				folds++
			}
		}})
	ctx := t.Context()
	docs := []string{"r0", "r1", "r2"}
	var (
		mu    sync.Mutex
		acked = map[string][]string{}
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 150 {
				doc, u := docs[(w+i)%len(docs)], fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Append(ctx, doc, []byte(u)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				acked[doc] = append(acked[doc], u)
				mu.Unlock()
			}
		})
	}
	stop := make(chan struct{})
	var compactors sync.WaitGroup
	compactions := 0
	compactors.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			doc := docs[i%len(docs)]
			st, err := s.Load(ctx, doc)
			if errors.Is(err, docstore.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Errorf("Load: %v", err)
				return
			}
			if _, err := s.Compact(ctx, doc, []byte("set\n"+strings.Join(crashContents(st), "\n")), st.LastSeq, docstore.TriggerThreshold); err != nil {
				t.Errorf("Compact: %v", err)
				return
			}
			compactions++
		}
	})
	wg.Wait()
	close(stop)
	compactors.Wait()
	if t.Failed() {
		return
	}
	check := func(when string, s *Store) {
		t.Helper()
		for _, doc := range docs {
			st, err := s.Load(ctx, doc)
			if err != nil {
				t.Fatal(err)
			}
			got, want := crashContents(st), slices.Sorted(slices.Values(acked[doc]))
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %q holds %d updates, %d acknowledged", when, doc, len(got), len(want))
			}
		}
	}
	check("before Close", s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d compactions, %d folds, %d fresh logs", compactions, folds, rotations)
	if rotations < 2 || folds < 2 {
		t.Fatalf("%d folds and %d fresh logs: the test did not exercise them", folds, rotations)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("log after Close: %v, want none", err)
	}
	check("after reopening", openT(t, path, Options{}))
}

// TestLogWriteFailure: once the log cannot be written, Appends fail and
// Ping says so, while what was acknowledged is still folded and readable.
func TestLogWriteFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	s := openT(t, path, Options{FoldInterval: time.Hour})
	ctx := t.Context()
	if _, err := s.Append(ctx, "doc", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	// Break the committer's file: the next write fails.
	if err := s.log.file.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "doc", []byte("lost")); err == nil {
		t.Fatal("Append to a closed log succeeded")
	}
	if _, err := s.Append(ctx, "other", []byte("x")); err == nil {
		t.Fatal("Append after a failed write succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after a failed write succeeded")
	}
	if got, err := loadUpdates(s, "doc"); err != nil || !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("Load = %q, %v", got, err)
	}
	_ = s.Close() // closing the closed file fails
	s = openT(t, path, Options{})
	if got, err := loadUpdates(s, "doc"); err != nil || !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("after reopening: %q, %v", got, err)
	}
	if _, err := s.Append(ctx, "doc", []byte("again")); err != nil {
		t.Fatal(err)
	}
}

// TestAppendsDuringFold: a background fold does not hold up Appends; they
// go to the log while its bbolt commit runs, and are all there after.
func TestAppendsDuringFold(t *testing.T) {
	folding := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{FoldInterval: 10 * time.Millisecond,
		hook: func(event string) {
			if event == "fold-committed" {
				once.Do(func() {
					close(folding)
					<-release // the first fold stays "under way"
				})
			}
		}})
	ctx := t.Context()
	if _, err := s.Append(ctx, "d", []byte("u1")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-folding:
	case <-time.After(10 * time.Second):
		t.Fatal("no fold started")
	}
	for i := 2; i <= 20; i++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		seq, err := s.Append(actx, "d", fmt.Appendf(nil, "u%d", i))
		cancel()
		if err != nil || seq != int64(i) {
			t.Fatalf("Append %d while a fold is under way: seq %d, %v", i, seq, err)
		}
	}
	close(release)
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprintf("u%d", i+1)
	}
	if got, err := loadUpdates(s, "d"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("Load = %q, %v", got, err)
	}
}

// TestReadOfFoldedDocumentDoesNotFold: reading a document whose records
// are all in bbolt does not wait for a fold of other documents' records.
func TestReadOfFoldedDocumentDoesNotFold(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{FoldInterval: time.Hour})
	ctx := t.Context()
	if _, err := s.Append(ctx, "b", []byte("b1")); err != nil {
		t.Fatal(err)
	}
	if got, err := loadUpdates(s, "b"); err != nil || !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("Load(b) = %q, %v", got, err)
	}
	if _, err := s.Append(ctx, "a", []byte("a1")); err != nil {
		t.Fatal(err)
	}
	if got, err := loadUpdates(s, "b"); err != nil || !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("Load(b) = %q, %v", got, err)
	}
	if n := s.unfolded.Load(); n != 1 {
		t.Fatalf("%d unfolded records after reading b, want a's 1", n)
	}
	if got, err := loadUpdates(s, "a"); err != nil || !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("Load(a) = %q, %v", got, err)
	}
	if n := s.unfolded.Load(); n != 0 {
		t.Fatalf("%d unfolded records after reading a", n)
	}
}

// TestReadFoldsOnlyItsDocument: a read of a document with records in the
// log folds those and leaves the other documents' records pending, in
// order.
func TestReadFoldsOnlyItsDocument(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "collabd.db"), Options{FoldInterval: time.Hour})
	ctx := t.Context()
	for _, a := range []struct{ doc, u string }{{"a", "a1"}, {"b", "b1"}, {"a", "a2"}, {"b", "b2"}, {"b", "b3"}} {
		if _, err := s.Append(ctx, a.doc, []byte(a.u)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := loadUpdates(s, "a"); err != nil || !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("Load(a) = %q, %v", got, err)
	}
	if n := s.unfolded.Load(); n != 3 {
		t.Fatalf("%d unfolded records after reading a, want b's 3", n)
	}
	if _, err := s.Append(ctx, "b", []byte("b4")); err != nil {
		t.Fatal(err)
	}
	if got, err := loadUpdates(s, "b"); err != nil || !slices.Equal(got, []string{"b1", "b2", "b3", "b4"}) {
		t.Fatalf("Load(b) = %q, %v", got, err)
	}
	if n := s.unfolded.Load(); n != 0 {
		t.Fatalf("%d unfolded records after reading both", n)
	}
}

// crashCopy copies the files of the open store at path to dst, as a crash
// would leave them.
func crashCopy(t *testing.T, path, dst string) {
	t.Helper()
	writeFile(t, dst, readFile(t, path))
	writeFile(t, dst+"-wal", readFile(t, path+"-wal"))
}

// TestLogOfAnotherFileRefused: a log is replayed only into the database
// file it was written for. Beside another file (a backup restored next to
// the log of the crashed newer copy, say) Open fails with ErrLogMismatch
// and changes neither file.
func TestLogOfAnotherFileRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		s := openT(t, filepath.Join(dir, name+".db"), Options{FoldInterval: time.Hour})
		if _, err := s.Append(t.Context(), "doc", []byte(name+"1")); err != nil {
			t.Fatal(err)
		}
		crashCopy(t, filepath.Join(dir, name+".db"), filepath.Join(dir, name+"-crashed.db"))
	}
	mixed := filepath.Join(dir, "mixed.db")
	writeFile(t, mixed, readFile(t, filepath.Join(dir, "b-crashed.db")))
	writeFile(t, mixed+"-wal", readFile(t, filepath.Join(dir, "a-crashed.db-wal")))
	db, log := readFile(t, mixed), readFile(t, mixed+"-wal")
	if s, err := Open(mixed, Options{}); !errors.Is(err, ErrLogMismatch) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with another file's log = %v, want ErrLogMismatch", err)
	} else {
		t.Logf("error: %v", err)
	}
	if !bytes.Equal(readFile(t, mixed), db) || !bytes.Equal(readFile(t, mixed+"-wal"), log) {
		t.Fatal("the failed Open changed the files")
	}
	// Each crashed copy with its own log has its update.
	for _, name := range []string{"a", "b"} {
		s := openT(t, filepath.Join(dir, name+"-crashed.db"), Options{})
		if got, err := loadUpdates(s, "doc"); err != nil || !slices.Equal(got, []string{name + "1"}) {
			t.Fatalf("%s: %q, %v", name, got, err)
		}
	}
}

// TestHeaderlessLogRefused: a log without a header beside a file of the
// current format is not replayed (it cannot be told whose it is).
func TestHeaderlessLogRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "collabd.db")
	s := openT(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	log := encodeLog([]walRecord{rec("doc", 1, "x")})
	writeFile(t, path+"-wal", log)
	if s, err := Open(path, Options{}); !errors.Is(err, docstore.ErrCorrupt) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	if !bytes.Equal(readFile(t, path+"-wal"), log) {
		t.Fatal("the failed Open changed the log")
	}
}

// TestFormat1Upgrade: a format 1 file (no store ID) and its headerless log
// are replayed, and the file becomes of the current format with an ID
// that its new log carries. A format 1 file beside a log with a header (an
// upgrade cut short after the log was replaced) takes that log's ID.
func TestFormat1Upgrade(t *testing.T) {
	for _, withLog := range []string{"none", "headerless", "with header"} {
		path := filepath.Join(t.TempDir(), "collabd.db")
		s := openT(t, path, Options{})
		if _, err := s.Append(t.Context(), "doc", []byte("u1")); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		writeBolt(t, path, func(tx *bolt.Tx) error { // back to format 1
			meta := tx.Bucket(bucketMeta)
			if err := meta.Delete(keyStoreID); err != nil {
				return err
			}
			return meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, 1))
		})
		want := []string{"u1"}
		log := encodeLog([]walRecord{rec("doc", 2, "u2")}, []walRecord{rec("doc", 3, "u3")})
		cutShort := storeID{7, 7, 7}
		switch withLog {
		case "headerless":
			writeFile(t, path+"-wal", log)
			want = append(want, "u2", "u3")
		case "with header":
			writeFile(t, path+"-wal", append(appendLogHeader(nil, cutShort), log...))
			want = append(want, "u2", "u3")
		}
		s, err := Open(path, Options{FoldInterval: time.Hour})
		if err != nil {
			t.Fatalf("log %s: Open: %v", withLog, err)
		}
		if got, err := loadUpdates(s, "doc"); err != nil || !slices.Equal(got, want) {
			t.Fatalf("log %s: %q, %v; want %q", withLog, got, err, want)
		}
		if _, err := s.Append(t.Context(), "doc", []byte("after")); err != nil {
			t.Fatal(err)
		}
		crashCopy(t, path, path+".crash")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		id := storeIDOf(t, path)
		if id == (storeID{}) || (withLog == "with header") != (id == cutShort) {
			t.Fatalf("log %s: store ID %x after the upgrade", withLog, id)
		}
		if got, err := decodeLogHeader(readFile(t, path+".crash-wal")); err != nil || got != id {
			t.Fatalf("log %s: the new log names store %x, %v; want %x", withLog, got, err, id)
		}
	}
}

// FuzzDecodeLogHeader: whatever a log file starts with, decodeLogHeader
// returns a store ID or an ErrCorrupt error, and accepts exactly what
// appendLogHeader writes.
func FuzzDecodeLogHeader(f *testing.F) {
	f.Add(appendLogHeader(nil, storeID{1, 2, 3}))
	f.Add([]byte{0xc0, 0x11, 0xab, 0x1f, 0, 0, 0, 1})
	f.Add(encodeLog([]walRecord{rec("doc", 1, "x")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := decodeLogHeader(b)
		if err != nil {
			if !errors.Is(err, docstore.ErrCorrupt) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if got := appendLogHeader(nil, id); !bytes.Equal(got, b[:logHeaderLen]) {
			t.Fatalf("decode then encode changed %x to %x", b[:logHeaderLen], got)
		}
	})
}
