package ydoc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/collabd/collabd/lib0"
)

// updateBuilder writes update format v1 by hand, for inputs no Yjs client
// would produce.
type updateBuilder struct{ lib0.Encoder }

func (b *updateBuilder) uints(vs ...uint64) *updateBuilder {
	for _, v := range vs {
		b.WriteVarUint(v)
	}
	return b
}

func (b *updateBuilder) str(s string) *updateBuilder {
	b.WriteVarString(s)
	return b
}

func (b *updateBuilder) raw(p ...byte) *updateBuilder {
	b.Buf = append(b.Buf, p...)
	return b
}

// seededDoc returns a document with a little text, a map and an array.
func seededDoc(t testing.TB) *Doc {
	t.Helper()
	d := New(Options{ClientID: 7})
	if _, err := d.Transact(func(tx *Txn) error {
		if err := tx.InsertText(d.Root("t"), 0, "hello wörld 😀"); err != nil {
			return err
		}
		if err := tx.SetMapValue(d.Root("m"), "k", map[string]any{"a": 1.5, "b": []any{true, nil, "x"}}); err != nil {
			return err
		}
		return tx.InsertValues(d.Root("a"), 0, 1, "two", []byte{3})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Transact(func(tx *Txn) error { return tx.Delete(d.Root("t"), 2, 3) }); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHostileUpdatesAreRefusedAndChangeNothing(t *testing.T) {
	valid := seededDoc(t).EncodeStateAsUpdate(nil)
	tests := []struct {
		name   string
		update []byte
	}{
		{"empty", nil},
		{"truncated valid update", valid[:len(valid)/2]},
		{"huge client count", new(updateBuilder).uints(1 << 40).Buf},
		{"huge struct count", new(updateBuilder).uints(1, 1<<40, 1, 0).Buf},
		{"huge string length", new(updateBuilder).uints(1, 1, 1, 0).raw(4).uints(1).str("r").uints(1 << 50).Buf},
		{"varint overflow", new(updateBuilder).raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f).Buf},
		{"unknown content ref", new(updateBuilder).uints(1, 1, 1, 0).raw(11).Buf},
		{"unknown type ref", new(updateBuilder).uints(1, 1, 1, 0).raw(7).uints(1).str("r").uints(9).Buf},
		{"empty string item", new(updateBuilder).uints(1, 1, 1, 0).raw(4).uints(1).str("r").str("").uints(0).Buf},
		{"zero-length GC", new(updateBuilder).uints(1, 1, 1, 0).raw(0).uints(0).uints(0).Buf},
		{"origin after itself", new(updateBuilder).uints(1, 1, 1, 5).raw(0x84).uints(1, 9).str("x").uints(0).Buf},
		{"parent after itself", new(updateBuilder).uints(1, 1, 1, 5).raw(4).uints(0, 1, 5).str("x").uints(0).Buf},
		{"invalid utf-8", new(updateBuilder).uints(1, 1, 1, 0).raw(4).uints(1).str("r").uints(2).raw(0xc3, 0x28).uints(0).Buf},
		{"invalid json embed", new(updateBuilder).uints(1, 1, 1, 0).raw(5).uints(1).str("r").str("{nope").uints(0).Buf},
		{"invalid format value", new(updateBuilder).uints(1, 1, 1, 0).raw(6).uints(1).str("r").str("bold").str("tru").uints(0).Buf},
		{"any nested too deep", func() []byte {
			b := new(updateBuilder).uints(1, 1, 1, 0).raw(8).uints(1).str("r").uints(1)
			for range lib0.MaxDepth + 2 {
				b.raw(117).uints(1) // an array holding...
			}
			return b.raw(126).uints(0).Buf
		}()},
		{"clock overflow", new(updateBuilder).uints(1, 2, 1, lib0.MaxSafeInteger-1).raw(0).uints(1).raw(0).uints(5).uints(0).Buf},
		{"delete range overflow", new(updateBuilder).uints(0, 1, 1, 1, lib0.MaxSafeInteger, 5).Buf},
		{"truncated delete set", new(updateBuilder).uints(0, 1, 1, 3, 0).Buf},
		{"client id beyond 2^53-1", new(updateBuilder).uints(1, 1, 1<<53, 0).raw(4).uints(1).str("r").str("x").uints(0).Buf},
		{"origin client beyond 2^53-1", new(updateBuilder).uints(1, 1, 1, 0).raw(0x84).uints(1<<53, 0).str("x").uints(0).Buf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seededDoc(t)
			before := d.EncodeStateAsUpdate(nil)
			err := d.ApplyUpdate(tt.update)
			if !errors.Is(err, ErrInvalidUpdate) {
				t.Fatalf("ApplyUpdate(%x) = %v, want an error wrapping ErrInvalidUpdate", tt.update, err)
			}
			if after := d.EncodeStateAsUpdate(nil); !bytes.Equal(before, after) {
				t.Fatal("a refused update changed the document")
			}
			// The document keeps working.
			if err := d.ApplyUpdate(valid); err != nil {
				t.Fatalf("valid update after a refused one: %v", err)
			}
		})
	}
}

func TestLengthPrefixesDoNotAllocate(t *testing.T) {
	// A few bytes claiming 2^40 clients or structs must fail before
	// allocating for them.
	for _, u := range [][]byte{
		new(updateBuilder).uints(1 << 40).Buf,
		new(updateBuilder).uints(1, 1<<40, 1, 0).Buf,
		new(updateBuilder).uints(0, 1<<40).Buf,
	} {
		allocs := testing.AllocsPerRun(10, func() {
			if err := New(Options{}).ApplyUpdate(u); err == nil {
				t.Fatal("accepted")
			}
		})
		if allocs > 20 {
			t.Errorf("%x: %v allocations", u, allocs)
		}
	}
}

// nestedMaps builds an update of n maps, each the value of key "k" of the
// previous one (the first in root map "r").
func nestedMaps(n int) []byte {
	b := new(updateBuilder).uints(1, uint64(n), 1, 0)
	b.raw(refType | 0x20).uints(1).str("r").str("k").uints(uint64(KindMap))
	for i := 1; i < n; i++ {
		b.raw(refType|0x20).uints(0, 1, uint64(i-1)).str("k").uints(uint64(KindMap))
	}
	return b.uints(0).Buf
}

func TestNestingBeyondLimitIsCollected(t *testing.T) {
	n := MaxNesting + 500
	d := New(Options{})
	if err := d.ApplyUpdate(nestedMaps(n)); err != nil {
		t.Fatal(err)
	}
	if got := d.StateVector()[1]; got != uint64(n) {
		t.Fatalf("state %d, want %d (collected structs still count)", got, n)
	}
	depth := 0
	for ty := d.Get("r"); ty != nil; depth++ {
		e := ty.entries["k"]
		if e == nil || e.isGC() {
			break
		}
		ty = e.content.(*contentType).t
	}
	if depth != MaxNesting {
		t.Fatalf("nesting %d, want %d", depth, MaxNesting)
	}
	// Deleting the whole tree walks it recursively: bounded by the limit.
	del := new(updateBuilder).uints(0, 1, 1, 1, 0, uint64(n)).Buf
	if err := d.ApplyUpdate(del); err != nil {
		t.Fatal(err)
	}
	re := New(Options{})
	if err := re.ApplyUpdate(d.EncodeStateAsUpdate(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateAndReorderedUpdates(t *testing.T) {
	src := New(Options{ClientID: 3})
	var ups [][]byte
	for i := range 50 {
		u, err := src.Transact(func(tx *Txn) error {
			return tx.InsertText(src.Root("t"), i%(src.Root("t").Len()+1), "ab")
		})
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, u)
		if i%7 == 3 {
			u, _ = src.Transact(func(tx *Txn) error { return tx.Delete(src.Root("t"), 1, 2) })
			ups = append(ups, u)
		}
	}
	want := plainText(src.Root("t"))
	d := New(Options{})
	// Reverse order with every update twice: everything waits as pending
	// until the first update arrives last.
	for i := len(ups) - 1; i >= 0; i-- {
		for range 2 {
			if err := d.ApplyUpdate(ups[i]); err != nil {
				t.Fatal(err)
			}
		}
		if i > 0 && len(d.pending) == 0 {
			t.Fatalf("nothing pending after update %d", i)
		}
	}
	if got := plainText(d.Get("t")); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(d.pending) != 0 || len(d.pendingDS) != 0 {
		t.Fatalf("pending left: %v %v", d.pending, d.pendingDS)
	}
	if !bytes.Equal(d.EncodeStateAsUpdate(nil), src.EncodeStateAsUpdate(nil)) {
		t.Fatal("state differs from the source's")
	}
}

func TestPendingStateSurvivesEncoding(t *testing.T) {
	src := New(Options{ClientID: 3})
	var ups [][]byte
	for i := range 5 {
		u, _ := src.Transact(func(tx *Txn) error { return tx.InsertText(src.Root("t"), i, "x") })
		ups = append(ups, u)
	}
	d := New(Options{})
	for _, u := range ups[2:] { // 0 and 1 missing: all pending
		if err := d.ApplyUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.StateVector()) != 0 {
		t.Fatalf("state vector %v, want empty (pending is not state)", d.StateVector())
	}
	// A document loaded from d's encoding has the pending structs too and
	// completes when the missing updates arrive.
	re := New(Options{})
	if err := re.ApplyUpdate(d.EncodeStateAsUpdate(nil)); err != nil {
		t.Fatal(err)
	}
	for _, u := range ups[:2] {
		if err := re.ApplyUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if got := plainText(re.Get("t")); got != "xxxxx" {
		t.Fatalf("got %q", got)
	}
}
