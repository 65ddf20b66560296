package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/collabd/collabd/yprotocol"
)

// Frames as @hocuspocus/server 3.4 writes them for the document "d1":
// varString name, then type (and for auth, the sub-type).
var (
	hpSyncReplyStep2 = []byte{2, 'd', '1', 4, 1, 2, 0, 0} // SyncReply, SyncStep2 of an empty doc
	hpSyncStep1      = []byte{2, 'd', '1', 0, 0, 1, 0}    // Sync, SyncStep1, empty state vector
	hpAuthenticated  = []byte{2, 'd', '1', 2, 2, 5, 'w', 'r', 'i', 't', 'e'}
	hpDenied         = []byte{2, 'd', '1', 2, 1, 2, 'n', 'o'}
	hpSyncStatus     = []byte{2, 'd', '1', 8, 1}
)

func TestHocuspocusUnwrap(t *testing.T) {
	got, err := hpUnwrap(nil, hpSyncReplyStep2, "d1")
	if err != nil || !bytes.Equal(got, yprotocol.AppendSyncStep2(nil, emptyUpdate)) {
		t.Fatalf("SyncReply: %x, %v; want a y-websocket SyncStep2", got, err)
	}
	got, err = hpUnwrap(nil, hpSyncStep1, "d1")
	if err != nil || !bytes.Equal(got, yprotocol.AppendSyncStep1(nil, emptyStateVector)) {
		t.Fatalf("SyncStep1: %x, %v", got, err)
	}
	for name, m := range map[string][]byte{"authenticated": hpAuthenticated, "sync status": hpSyncStatus} {
		if got, err := hpUnwrap(nil, m, "d1"); got != nil || err != nil {
			t.Errorf("%s: %x, %v; want nothing to handle", name, got, err)
		}
	}
	if _, err := hpUnwrap(nil, hpDenied, "d1"); !errors.Is(err, errHPDenied) {
		t.Errorf("denied: %v, want errHPDenied", err)
	}
	if _, err := hpUnwrap(nil, hpSyncStep1, "other"); err == nil {
		t.Error("a message for another document was accepted")
	}
	for _, bad := range [][]byte{nil, {5, 'd'}, {2, 'd', '1'}, {2, 'd', '1', 99}, {2, 'd', '1', 2}} {
		if _, err := hpUnwrap(nil, bad, "d1"); err == nil {
			t.Errorf("%x: accepted", bad)
		}
	}
}

func TestHocuspocusWrap(t *testing.T) {
	pre := hpPrefix("d1")
	if got := hpWrap(nil, pre, yprotocol.AppendSyncStep1(nil, emptyStateVector)); !bytes.Equal(got, hpSyncStep1) {
		t.Errorf("wrap: %x, want %x", got, hpSyncStep1)
	}
	if got, want := hpAuth(pre, "tk"), []byte{2, 'd', '1', 2, 0, 2, 't', 'k'}; !bytes.Equal(got, want) {
		t.Errorf("auth: %x, want %x", got, want)
	}
}

// FuzzHocuspocusUnwrap: whatever a server sends, unwrapping returns a
// frame, nothing, or an error, and never panics; a frame it returns is
// what the y-websocket decoder then reads, which must not panic either.
func FuzzHocuspocusUnwrap(f *testing.F) {
	for _, m := range [][]byte{hpSyncReplyStep2, hpSyncStep1, hpAuthenticated, hpDenied, hpSyncStatus} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := hpUnwrap(nil, msg, "d1")
		if err != nil || got == nil {
			return
		}
		_ = yprotocol.Decode(got, func(yprotocol.Message) error { return nil })
	})
}
