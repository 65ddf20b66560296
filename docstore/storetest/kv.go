package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/collabd/collabd/docstore"
)

// KVer is a store with key-value storage, as both backends are.
type KVer interface {
	docstore.Store
	KV() docstore.KV
}

// RunKV runs the conformance suite of docstore.KV on the stores that
// fresh's Openers open, which must implement KVer.
func RunKV(t *testing.T, fresh func(t *testing.T) Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"PutGet", testKVPutGet},
		{"Delete", testKVDelete},
		{"List", testKVList},
		{"Atomic", testKVAtomic},
		{"Limits", testKVLimits},
		{"Namespaces", testKVNamespaces},
		{"Reopen", testKVReopen},
		{"Concurrent", testKVConcurrent},
		{"Closed", testKVClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, &harness{open: fresh(t), clock: newClock()})
		})
	}
}

func (h *harness) kv(t *testing.T) docstore.KV {
	t.Helper()
	s, ok := h.store(t, docstore.Retention{}).(KVer)
	if !ok {
		t.Fatal("the store has no KV method")
	}
	return s.KV()
}

func put(key, value string) docstore.KVOp { return docstore.KVOp{Key: key, Value: []byte(value)} }
func del(key string) docstore.KVOp        { return docstore.KVOp{Key: key, Delete: true} }

func mustWrite(t *testing.T, kv docstore.KV, ns string, ops ...docstore.KVOp) {
	t.Helper()
	if err := kv.Write(t.Context(), ns, ops); err != nil {
		t.Fatalf("Write(%q): %v", ns, err)
	}
}

func wantValue(t *testing.T, kv docstore.KV, ns, key, want string) {
	t.Helper()
	got, err := kv.Get(t.Context(), ns, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v; want %q", ns, key, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%q, %q) = %q, want %q", ns, key, got, want)
	}
}

func wantMissing(t *testing.T, kv docstore.KV, ns, key string) {
	t.Helper()
	got, err := kv.Get(t.Context(), ns, key)
	if !errors.Is(err, docstore.ErrKeyNotFound) {
		t.Fatalf("Get(%q, %q) = %q, %v; want ErrKeyNotFound", ns, key, got, err)
	}
}

func listKeys(t *testing.T, kv docstore.KV, ns, prefix, after string, limit int) []string {
	t.Helper()
	ps, err := kv.List(t.Context(), ns, prefix, after, limit)
	if err != nil {
		t.Fatalf("List(%q, %q, %q, %d): %v", ns, prefix, after, limit, err)
	}
	if ps == nil {
		t.Fatal("List returned nil")
	}
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.Key
	}
	return keys
}

func testKVPutGet(t *testing.T, h *harness) {
	kv := h.kv(t)
	wantMissing(t, kv, "p/r", "a")
	mustWrite(t, kv, "p/r", put("a", "1"), put("b", ""), put("ключ/ü", "\x00\xff"))
	wantValue(t, kv, "p/r", "a", "1")
	wantValue(t, kv, "p/r", "b", "")
	wantValue(t, kv, "p/r", "ключ/ü", "\x00\xff")
	mustWrite(t, kv, "p/r", put("a", "2"))
	wantValue(t, kv, "p/r", "a", "2")
	// The caller's slices are its own, both ways.
	v := []byte("xyz")
	mustWrite(t, kv, "p/r", docstore.KVOp{Key: "c", Value: v})
	v[0] = 'X'
	got, _ := kv.Get(t.Context(), "p/r", "c")
	got[1] = 'Y'
	wantValue(t, kv, "p/r", "c", "xyz")
	// Later ops of one Write win over earlier ones.
	mustWrite(t, kv, "p/r", put("d", "1"), put("d", "2"), del("e"), put("e", "3"))
	wantValue(t, kv, "p/r", "d", "2")
	wantValue(t, kv, "p/r", "e", "3")
}

func testKVDelete(t *testing.T, h *harness) {
	kv := h.kv(t)
	mustWrite(t, kv, "ns", put("a", "1"), put("b", "2"))
	mustWrite(t, kv, "ns", del("a"), del("never"))
	wantMissing(t, kv, "ns", "a")
	wantValue(t, kv, "ns", "b", "2")
	mustWrite(t, kv, "ns", put("a", "3"), del("a"))
	wantMissing(t, kv, "ns", "a")
	// Deleting in a namespace never written is no error.
	mustWrite(t, kv, "empty", del("x"))
	if got := listKeys(t, kv, "empty", "", "", 0); len(got) != 0 {
		t.Fatalf("List of an emptied namespace = %q", got)
	}
}

func testKVList(t *testing.T, h *harness) {
	kv := h.kv(t)
	keys := []string{"a", "a/1", "a/2", "a/10", "ab", "b", "b/x", "z\u00e9", "zz"}
	var ops []docstore.KVOp
	for i := len(keys) - 1; i >= 0; i-- { // written out of order
		ops = append(ops, put(keys[i], "v"+keys[i]))
	}
	mustWrite(t, kv, "ns", ops...)
	tests := []struct {
		prefix, after string
		limit         int
		want          string
	}{
		{"", "", 0, "a a/1 a/10 a/2 ab b b/x zz z\u00e9"},
		{"a/", "", 0, "a/1 a/10 a/2"},
		{"a", "", 0, "a a/1 a/10 a/2 ab"},
		{"a", "a/10", 0, "a/2 ab"},
		{"", "b", 2, "b/x zz"},
		{"a/", "zz", 0, ""},
		{"a/", "a", 0, "a/1 a/10 a/2"},
		{"c", "", 0, ""},
		{"", "", 3, "a a/1 a/10"},
	}
	for _, tt := range tests {
		got := strings.Join(listKeys(t, kv, "ns", tt.prefix, tt.after, tt.limit), " ")
		if got != tt.want {
			t.Errorf("List(prefix %q, after %q, limit %d) = %q, want %q", tt.prefix, tt.after, tt.limit, got, tt.want)
		}
	}
	ps, err := kv.List(t.Context(), "ns", "b/", "", 0)
	if err != nil || len(ps) != 1 || ps[0].Key != "b/x" || string(ps[0].Value) != "vb/x" {
		t.Fatalf("List(b/) = %+v, %v", ps, err)
	}
	// Paging through more than MaxKVList.
	var many []docstore.KVOp
	for i := range docstore.MaxKVList + 5 {
		many = append(many, put(fmt.Sprintf("k%05d", i), "v"))
		if len(many) == docstore.MaxKVOps {
			mustWrite(t, kv, "big", many...)
			many = nil
		}
	}
	mustWrite(t, kv, "big", many...)
	first := listKeys(t, kv, "big", "k", "", 0)
	rest := listKeys(t, kv, "big", "k", first[len(first)-1], 0)
	if len(first) != docstore.MaxKVList || len(rest) != 5 || rest[4] != fmt.Sprintf("k%05d", docstore.MaxKVList+4) {
		t.Fatalf("paging: %d then %d keys", len(first), len(rest))
	}
}

func testKVAtomic(t *testing.T, h *harness) {
	kv := h.kv(t)
	mustWrite(t, kv, "ns", put("keep", "1"))
	bad := [][]docstore.KVOp{
		{put("a", "1"), put("", "empty key")},
		{put("a", "1"), {Key: "big", Value: make([]byte, docstore.MaxValueLen+1)}},
		{del("keep"), put("nul\x00", "x")},
	}
	for i, ops := range bad {
		err := kv.Write(t.Context(), "ns", ops)
		if !errors.Is(err, docstore.ErrInvalidKey) {
			t.Fatalf("bad write %d: %v, want ErrInvalidKey", i, err)
		}
	}
	wantMissing(t, kv, "ns", "a")
	wantValue(t, kv, "ns", "keep", "1")
}

func testKVLimits(t *testing.T, h *harness) {
	kv := h.kv(t)
	ok := []docstore.KVOp{
		{Key: strings.Repeat("k", docstore.MaxKeyLen), Value: bytes.Repeat([]byte{7}, docstore.MaxValueLen)},
	}
	mustWrite(t, kv, "ns", ok...)
	got, err := kv.Get(t.Context(), "ns", ok[0].Key)
	if err != nil || !bytes.Equal(got, ok[0].Value) {
		t.Fatalf("Get of the largest key and value: %d bytes, %v", len(got), err)
	}
	tooMany := make([]docstore.KVOp, docstore.MaxKVOps+1)
	for i := range tooMany {
		tooMany[i] = put(fmt.Sprint(i), "v")
	}
	tooBig := make([]docstore.KVOp, docstore.MaxKVWriteBytes/docstore.MaxValueLen+1)
	for i := range tooBig {
		tooBig[i] = docstore.KVOp{Key: fmt.Sprint(i), Value: make([]byte, docstore.MaxValueLen)}
	}
	for _, tt := range []struct {
		what string
		err  error
	}{
		{"long key", kv.Write(t.Context(), "ns", []docstore.KVOp{put(strings.Repeat("k", docstore.MaxKeyLen+1), "")})},
		{"bad UTF-8 key", kv.Write(t.Context(), "ns", []docstore.KVOp{put("\xff", "")})},
		{"no ops", kv.Write(t.Context(), "ns", nil)},
		{"too many ops", kv.Write(t.Context(), "ns", tooMany)},
		{"too many bytes", kv.Write(t.Context(), "ns", tooBig)},
		{"empty namespace", kv.Write(t.Context(), "", []docstore.KVOp{put("a", "")})},
		{"get of an empty key", func() error { _, err := kv.Get(t.Context(), "ns", ""); return err }()},
		{"list with a bad prefix", func() error { _, err := kv.List(t.Context(), "ns", "\xff", "", 0); return err }()},
	} {
		if !errors.Is(tt.err, docstore.ErrInvalidKey) && !errors.Is(tt.err, docstore.ErrInvalidName) {
			t.Errorf("%s: %v, want ErrInvalidKey or ErrInvalidName", tt.what, tt.err)
		}
	}
	if got := listKeys(t, kv, "ns", "", "", 0); len(got) != 1 {
		t.Fatalf("after refused writes the namespace holds %d keys, want 1", len(got))
	}
}

func testKVNamespaces(t *testing.T, h *harness) {
	s := h.store(t, docstore.Retention{})
	kv := s.(KVer).KV()
	mustWrite(t, kv, "chat/a", put("k", "a"))
	mustWrite(t, kv, "chat/b", put("k", "b"))
	mustWrite(t, kv, "chat/a/x", put("k", "ax"))
	wantValue(t, kv, "chat/a", "k", "a")
	wantValue(t, kv, "chat/b", "k", "b")
	if got := listKeys(t, kv, "chat/a", "", "", 0); len(got) != 1 {
		t.Fatalf("chat/a lists %q", got)
	}
	// A document of the same name is another thing.
	mustAppend(t, s, "chat/a", "update")
	if err := s.Delete(t.Context(), "chat/a"); err != nil {
		t.Fatal(err)
	}
	wantValue(t, kv, "chat/a", "k", "a")
	if _, err := s.Load(t.Context(), "chat/b"); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("a namespace became a document: %v", err)
	}
}

func testKVReopen(t *testing.T, h *harness) {
	s := h.open(t, Config{Now: h.clock.Now})
	mustWrite(t, s.(KVer).KV(), "ns", put("a", "1"), put("b", "2"))
	mustWrite(t, s.(KVer).KV(), "ns", del("b"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	kv := h.kv(t)
	wantValue(t, kv, "ns", "a", "1")
	wantMissing(t, kv, "ns", "b")
}

func testKVConcurrent(t *testing.T, h *harness) {
	kv := h.kv(t)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ns := fmt.Sprintf("ns%d", w%2)
				// Each Write puts a pair of keys with one value: a reader
				// must never see them differ.
				v := fmt.Sprintf("%d-%d", w, i)
				if err := kv.Write(t.Context(), ns, []docstore.KVOp{put("x", v), put("y", v), put(fmt.Sprintf("w%d/%d", w, i), v)}); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				ps, err := kv.List(t.Context(), ns, "", "", 0)
				if err != nil {
					t.Errorf("List: %v", err)
					return
				}
				var x, y string
				for _, p := range ps {
					switch p.Key {
					case "x":
						x = string(p.Value)
					case "y":
						y = string(p.Value)
					}
				}
				if x != y {
					t.Errorf("torn write: x=%q y=%q", x, y)
					return
				}
			}
		})
	}
	wg.Wait()
	for ns := range 2 {
		if got := listKeys(t, kv, fmt.Sprintf("ns%d", ns), "w", "", 0); len(got) != writers/2*each {
			t.Errorf("ns%d holds %d written keys, want %d", ns, len(got), writers/2*each)
		}
	}
}

func testKVClosed(t *testing.T, h *harness) {
	s := h.open(t, Config{Now: h.clock.Now})
	kv := s.(KVer).KV()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := kv.Write(t.Context(), "ns", []docstore.KVOp{put("a", "1")}); !errors.Is(err, docstore.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if _, err := kv.Get(t.Context(), "ns", "a"); !errors.Is(err, docstore.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}
