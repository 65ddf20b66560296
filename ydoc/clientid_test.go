package ydoc

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"

	"github.com/collabd/collabd/lib0"
)

// Client ids at the edges of what Yjs decodes: 2^32 (past the old 32-bit
// limit) and 2^53-1 (Number.MAX_SAFE_INTEGER) are accepted everywhere,
// 2^53 is refused.
const (
	id32  = 1 << 32
	idMax = 1<<53 - 1
	idBad = 1 << 53
)

func textOf(d *Doc) string { return d.Root("t").String() }

func insertAs(t *testing.T, d *Doc, index int, s string) []byte {
	t.Helper()
	u, err := d.Transact(func(tx *Txn) error { return tx.InsertText(d.Root("t"), index, s) })
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestItemStaysSmall(t *testing.T) {
	// Packing 53-bit origins keeps a loaded document's main cost where it was.
	if s := unsafe.Sizeof(item{}); s != 88 {
		t.Fatalf("item is %d bytes, want 88", s)
	}
}

func TestPackedOriginsRoundTrip(t *testing.T) {
	for _, c := range []uint64{0, 1, 1<<32 - 1, id32, id32 + 1, 1 << 42, 1<<43 - 1, 1 << 43, idMax - 1, idMax} {
		for _, k := range []uint64{0, 7, 1<<32 + 3, lib0.MaxSafeInteger} {
			var it item
			it.setOrigin(ID{c, k})
			it.setRightOrigin(ID{idMax - c, lib0.MaxSafeInteger - k})
			if got := it.origin(); got != (ID{c, k}) {
				t.Fatalf("origin %v, want %v", got, ID{c, k})
			}
			if got := it.rightOrigin(); got != (ID{idMax - c, lib0.MaxSafeInteger - k}) {
				t.Fatalf("right origin %v, want %v", got, ID{idMax - c, lib0.MaxSafeInteger - k})
			}
		}
	}
}

// TestLargeClientIDs edits with clients 2^32 and 2^53-1 concurrently at
// the same position (conflicts resolve by numeric client id, lower left),
// then on top of each other's items (origins and right origins naming the
// large ids), and checks every replica, the merged update, a diff and a
// restore.
func TestLargeClientIDs(t *testing.T) {
	small := New(Options{ClientID: 7})
	mid := New(Options{ClientID: id32})
	big := New(Options{ClientID: idMax})
	if big.ClientID() != idMax || mid.ClientID() != id32 {
		t.Fatalf("client ids %d, %d", big.ClientID(), mid.ClientID())
	}
	var ups [][]byte
	ups = append(ups, insertAs(t, big, 0, "B"), insertAs(t, mid, 0, "M"), insertAs(t, small, 0, "s"))
	docs := []*Doc{small, mid, big}
	for _, d := range docs {
		for _, u := range ups {
			if err := d.ApplyUpdate(u); err != nil {
				t.Fatal(err)
			}
		}
		if got := textOf(d); got != "sMB" {
			t.Fatalf("client %d: %q, want sMB (numeric client order)", d.ClientID(), got)
		}
	}
	// Inserts between the large clients' items: origin 2^32, right origin 2^53-1.
	ups = append(ups, insertAs(t, small, 2, "x"))
	if err := big.ApplyUpdate(ups[len(ups)-1]); err != nil {
		t.Fatal(err)
	}
	ups = append(ups, insertAs(t, big, 4, "y"))
	del, err := mid.Transact(func(tx *Txn) error { return tx.Delete(mid.Root("t"), 1, 1) })
	if err != nil {
		t.Fatal(err)
	}
	ups = append(ups, del)
	merged, err := MergeUpdates(ups...)
	if err != nil {
		t.Fatal(err)
	}
	fresh := New(Options{})
	if err := fresh.ApplyUpdate(merged); err != nil {
		t.Fatal(err)
	}
	if got := textOf(fresh); got != "sxBy" {
		t.Fatalf("merged: %q, want sxBy", got)
	}
	full := fresh.EncodeStateAsUpdate(nil)
	sv := fresh.StateVector()
	if sv[idMax] != 2 || sv[id32] != 1 {
		t.Fatalf("state vector %v", sv)
	}
	dsv, err := DecodeStateVector(sv.Encode())
	if err != nil || len(dsv) != 3 || dsv[idMax] != 2 {
		t.Fatalf("state vector round trip %v, %v", dsv, err)
	}
	// A diff against a state vector naming only the large clients holds
	// the small client's structs.
	diff, err := DiffUpdate(full, StateVector{idMax: 2, id32: 1}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	dsvd, err := StateVectorFromUpdate(diff)
	if err != nil || len(dsvd) != 1 || dsvd[7] != 2 {
		t.Fatalf("diff holds %v, %v", dsvd, err)
	}
	// Restore as client 2^53-1 - 1.
	snap := big.EncodeStateAsUpdate(nil)
	if err := fresh.ApplyUpdate(insertAs(t, fresh, 0, "zz")); err != nil {
		t.Fatal(err)
	}
	ru, err := fresh.RestoreUpdate(snap, idMax-1)
	if err != nil {
		t.Fatal(err)
	}
	rsv, err := StateVectorFromUpdate(ru)
	if err != nil || rsv[idMax-1] == 0 {
		t.Fatalf("restore update by %v, %v", rsv, err)
	}
	if textOf(fresh) != textOf(big) {
		t.Fatalf("after restore %q, want the snapshot's %q", textOf(fresh), textOf(big))
	}
	replica := New(Options{})
	if err := replica.ApplyUpdate(fresh.EncodeStateAsUpdate(nil)); err != nil {
		t.Fatal(err)
	}
	if textOf(replica) != textOf(big) {
		t.Fatalf("replica after restore %q, want %q", textOf(replica), textOf(big))
	}
}

// update encodes a v1 update with one GC struct of client at clock 0 and a
// delete set entry for dsClient, or an item with the given origin.
func rawUpdate(client uint64, origin *ID, dsClient uint64) []byte {
	var e lib0.Encoder
	e.WriteVarUint(1) // clients
	e.WriteVarUint(1) // structs
	e.WriteVarUint(client)
	e.WriteVarUint(0) // clock
	if origin == nil {
		e.WriteUint8(0) // GC
		e.WriteVarUint(1)
	} else {
		e.WriteUint8(0x80 | 4) // string with origin
		e.WriteVarUint(origin.Client)
		e.WriteVarUint(origin.Clock)
		e.WriteVarString("a")
	}
	e.WriteVarUint(1) // delete set clients
	e.WriteVarUint(dsClient)
	e.WriteVarUint(1)
	e.WriteVarUint(0)
	e.WriteVarUint(1)
	return e.Buf
}

func TestClientIDBoundariesInDecoders(t *testing.T) {
	for _, c := range []uint64{id32, idMax} {
		u := rawUpdate(c, nil, c)
		d := New(Options{})
		if err := d.ApplyUpdate(u); err != nil {
			t.Fatalf("client %d: %v", c, err)
		}
		if d.StateVector()[c] != 1 {
			t.Fatalf("client %d not stored", c)
		}
		if !bytes.Equal(d.EncodeStateAsUpdate(nil), u) {
			t.Fatalf("client %d: re-encoding differs", c)
		}
		if _, err := MergeUpdates(u, rawUpdate(5, &ID{c, 0}, 5)); err != nil {
			t.Fatalf("merge with origin %d: %v", c, err)
		}
		if _, err := DiffUpdate(u, StateVector{c: 1}.Encode()); err != nil {
			t.Fatalf("diff: %v", err)
		}
	}
	bad := map[string][]byte{
		"struct client": rawUpdate(idBad, nil, 1),
		"origin client": rawUpdate(1, &ID{idBad, 0}, 1),
		"delete set":    rawUpdate(1, nil, idBad),
	}
	for name, u := range bad {
		d := New(Options{})
		err := d.ApplyUpdate(u)
		if !errors.Is(err, ErrInvalidUpdate) || !errors.Is(err, ErrClientID) {
			t.Errorf("%s 2^53: %v, want ErrInvalidUpdate and ErrClientID", name, err)
		}
		if len(d.StateVector()) != 0 {
			t.Errorf("%s: refused update changed the document", name)
		}
		if _, err := MergeUpdates(u, rawUpdate(2, nil, 2)); !errors.Is(err, ErrClientID) {
			t.Errorf("%s: MergeUpdates: %v", name, err)
		}
		if _, err := DiffUpdate(u, nil); !errors.Is(err, ErrClientID) {
			t.Errorf("%s: DiffUpdate: %v", name, err)
		}
	}
	if _, err := DecodeStateVector(StateVector{idMax: 3}.Encode()); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeStateVector(StateVector{idBad: 3}.Encode())
	if !errors.Is(err, ErrInvalidStateVector) || !errors.Is(err, ErrClientID) {
		t.Fatalf("state vector with 2^53: %v", err)
	}
	if _, err := DiffUpdate(rawUpdate(1, nil, 1), StateVector{idBad: 1}.Encode()); !errors.Is(err, ErrClientID) {
		t.Fatalf("diff against 2^53: %v", err)
	}
}
