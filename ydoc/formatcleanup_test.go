package ydoc

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestCleanupUpdatesConverge replays every Yjs 13 session of the corpus
// with ApplyWithCleanup, as a room does, and checks what the clean-up
// updates are for: each holds only deletions, the document that made them
// already holds them (re-applying changes nothing), and a replica that
// receives the session's updates with the clean-ups relayed in between
// (what every peer of a room gets) ends with the same state. The corpus
// has sessions whose receiver cleans up, so the test cannot pass vacuously.
func TestCleanupUpdatesConverge(t *testing.T) {
	files := sessionFiles(t, filepath.Join("testdata", "diff"))
	withCleanup := 0
	for _, f := range files {
		s := loadSession(t, f)
		d, peer := s.newDoc(), s.newDoc()
		n := 0
		for i, b64 := range s.Updates {
			u := mustBase64(t, b64)
			_, cleanup, err := d.ApplyWithCleanup(u)
			if err != nil {
				t.Fatalf("%s: update %d: %v", s.Name, i, err)
			}
			if err := peer.ApplyUpdate(u); err != nil {
				t.Fatalf("%s: peer: update %d: %v", s.Name, i, err)
			}
			if cleanup == nil {
				continue
			}
			n++
			du, err := decodeUpdate(cleanup, false)
			if err != nil || len(du.clients) != 0 || len(du.ds) == 0 {
				t.Fatalf("%s: update %d: clean-up %x is not a non-empty delete set (%v)", s.Name, i, cleanup, err)
			}
			if changed, again, err := d.ApplyWithCleanup(cleanup); err != nil || changed || again != nil {
				t.Fatalf("%s: own clean-up re-applied: changed %v, clean-up %x, %v", s.Name, changed, again, err)
			}
			if err := peer.ApplyUpdate(cleanup); err != nil {
				t.Fatalf("%s: peer: clean-up: %v", s.Name, err)
			}
		}
		if n > 0 {
			withCleanup++
		}
		if !bytes.Equal(d.EncodeStateAsUpdate(nil), peer.EncodeStateAsUpdate(nil)) {
			t.Errorf("%s: a peer that received the clean-ups has another state", s.Name)
		}
	}
	if withCleanup == 0 {
		t.Fatal("no session made a clean-up")
	}
	t.Logf("%d of %d sessions made clean-ups", withCleanup, len(files))
}

// TestNormalizedExports: the normalized forms merge the runs that Yjs
// (and Delta/String) keep split at redundant format items.
func TestNormalizedExports(t *testing.T) {
	d := fixture(t, "redundant-formats")
	text := d.RootAs("text", KindText)
	if n, m := len(text.Delta()), len(text.NormalizedDelta()); n != 5 || m != 3 {
		t.Fatalf("text: %d ops, normalized %d; want 5 and 3", n, m)
	}
	if got := text.NormalizedDelta()[1].Insert; got != "bcde" {
		t.Fatalf("normalized bold run %q", got)
	}
	x := d.RootAs("xml", KindXMLFragment)
	if got, want := x.NormalizedString(), "<paragraph>a<bold>bcde</bold>fgh</paragraph>"; got != want {
		t.Fatalf("NormalizedString %q, want %q", got, want)
	}
	if x.String() == x.NormalizedString() {
		t.Fatal("String is normalized")
	}
}
