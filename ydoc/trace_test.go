package ydoc

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The editing trace in ../testdata (credited in the README): 259,778
// single-character edits typing a LaTeX paper.
type editTrace struct {
	EndContent string `json:"endContent"`
	Txns       []struct {
		Patches [][3]json.RawMessage `json:"patches"`
	} `json:"txns"`
}

type tracePatch struct {
	pos, del int
	ins      string
}

// traceFixture is the trace replayed as local edits, once per test binary.
type traceFixture struct {
	end     string
	updates [][]byte // one per transaction, as a remote peer would send them
	final   []byte   // full state after the whole trace
	halfSV  StateVector
}

var loadTraceOnce = sync.OnceValues(loadTraceFixture)

func traceFor(tb testing.TB) *traceFixture {
	tb.Helper()
	f, err := loadTraceOnce()
	if err != nil {
		tb.Fatalf("editing trace: %v", err)
	}
	return f
}

func loadTraceFixture() (*traceFixture, error) {
	fh, err := os.Open(filepath.Join("..", "testdata", "automerge-paper.json.gz"))
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return nil, err
	}
	var tr editTrace
	if err := json.NewDecoder(zr).Decode(&tr); err != nil {
		return nil, err
	}
	var patches [][]tracePatch
	for _, t := range tr.Txns {
		var ps []tracePatch
		for _, p := range t.Patches {
			var tp tracePatch
			if err := json.Unmarshal(p[0], &tp.pos); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(p[1], &tp.del); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(p[2], &tp.ins); err != nil {
				return nil, err
			}
			ps = append(ps, tp)
		}
		patches = append(patches, ps)
	}
	d := New(Options{ClientID: 1})
	text := d.Root("text")
	f := &traceFixture{end: tr.EndContent}
	for i, ps := range patches {
		u, err := d.Transact(func(tx *Txn) error {
			for _, p := range ps {
				if p.del > 0 {
					if err := tx.Delete(text, p.pos, p.del); err != nil {
						return err
					}
				}
				if p.ins != "" {
					if err := tx.InsertText(text, p.pos, p.ins); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		f.updates = append(f.updates, u)
		if i+1 == len(patches)/2 {
			f.halfSV = d.StateVector()
		}
	}
	f.final = d.EncodeStateAsUpdate(nil)
	return f, nil
}

// plainText reads a text root without the export code, for tests of the
// core that must not depend on it.
func plainText(t *Type) string {
	var b strings.Builder
	for it := t.start; it != nil; it = it.right {
		if c, ok := it.content.(*contentString); ok && !it.deleted() {
			b.Write(c.s)
		}
	}
	return b.String()
}

func TestTraceLocalAndRemote(t *testing.T) {
	f := traceFor(t)
	// The local edits must produce exactly the bytes Yjs produces for the
	// same edits (digests from tools/trace/golden.mjs, run with real Yjs).
	raw, err := os.ReadFile(filepath.Join("testdata", "trace-golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Updates       int
		UpdatesSHA256 string
		FinalSHA256   string
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(f.updates) != golden.Updates {
		t.Fatalf("got %d updates, Yjs emits %d", len(f.updates), golden.Updates)
	}
	h := sha256.New()
	for _, u := range f.updates {
		h.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(u))))
		h.Write(u)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != golden.UpdatesSHA256 {
		t.Errorf("trace updates differ from Yjs's: sha256 %s, want %s", got, golden.UpdatesSHA256)
	}
	if got := sha256.Sum256(f.final); hex.EncodeToString(got[:]) != golden.FinalSHA256 {
		t.Errorf("final state differs from Yjs's encoding")
	}
	remote := New(Options{})
	for i, u := range f.updates {
		if err := remote.ApplyUpdate(u); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	if got := plainText(remote.Get("text")); got != f.end {
		t.Fatalf("remote replay: got %d chars, want %d", len(got), len(f.end))
	}
	loaded := New(Options{})
	if err := loaded.ApplyUpdate(f.final); err != nil {
		t.Fatal(err)
	}
	if got := plainText(loaded.Get("text")); got != f.end {
		t.Fatalf("loaded final state: got %d chars, want %d", len(got), len(f.end))
	}
	merged, err := MergeUpdates(f.updates[:10000]...)
	if err != nil {
		t.Fatal(err)
	}
	a, b := New(Options{}), New(Options{})
	if err := a.ApplyUpdate(merged); err != nil {
		t.Fatal(err)
	}
	for _, u := range f.updates[:10000] {
		if err := b.ApplyUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if plainText(a.Get("text")) != plainText(b.Get("text")) {
		t.Fatal("merged updates differ from applying them one by one")
	}
}
