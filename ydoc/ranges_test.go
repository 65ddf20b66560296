package ydoc

import (
	"slices"
	"testing"
)

// TestUpdateRanges: each update's ranges are what it inserted and
// deleted, and a merged update's ranges are the union of its parts'.
func TestUpdateRanges(t *testing.T) {
	d := New(Options{ClientID: 7})
	edit := func(fn func(tx *Txn) error) []byte {
		t.Helper()
		u, err := d.Transact(fn)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	text := d.Root("t")
	u1 := edit(func(tx *Txn) error { return tx.InsertText(text, 0, "abcd") }) // clocks 0-3
	u2 := edit(func(tx *Txn) error { return tx.Delete(text, 1, 2) })          // deletes 1-2
	u3 := edit(func(tx *Txn) error { return tx.InsertText(text, 2, "xy") })   // clocks 4-5

	for _, tc := range []struct {
		name          string
		update        []byte
		structs, dels []IDRange
	}{
		{"insert", u1, []IDRange{{7, 0, 4}}, nil},
		{"delete", u2, nil, []IDRange{{7, 1, 2}}},
		{"insert after", u3, []IDRange{{7, 4, 2}}, nil},
	} {
		s, del, err := UpdateRanges(tc.update)
		if err != nil || !slices.Equal(s, tc.structs) || !slices.Equal(del, tc.dels) {
			t.Errorf("%s: %v %v %v; want %v %v", tc.name, s, del, err, tc.structs, tc.dels)
		}
	}
	merged, err := MergeUpdates(u1, u2, u3)
	if err != nil {
		t.Fatal(err)
	}
	s, del, err := UpdateRanges(merged)
	if err != nil || !slices.Equal(s, []IDRange{{7, 0, 6}}) || !slices.Equal(del, []IDRange{{7, 1, 2}}) {
		t.Errorf("merged: %v %v %v", s, del, err)
	}
	if _, _, err := UpdateRanges([]byte{1, 5}); err == nil {
		t.Error("a truncated update was accepted")
	}
}

// FuzzUpdateRanges: any input gives an error or ranges that are sorted,
// non-empty and neither overlap nor touch (joined).
func FuzzUpdateRanges(f *testing.F) {
	d := seededDoc(f)
	f.Add(d.EncodeStateAsUpdate(nil))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, update []byte) {
		s, del, err := UpdateRanges(update)
		if err != nil {
			return
		}
		for _, rs := range [][]IDRange{s, del} {
			for i, r := range rs {
				if r.Len == 0 {
					t.Fatalf("empty range %v", r)
				}
				if i > 0 {
					p := rs[i-1]
					if p.Client > r.Client || (p.Client == r.Client && p.Clock+p.Len >= r.Clock) {
						t.Fatalf("ranges %v and %v not sorted and joined", p, r)
					}
				}
			}
		}
	})
}
