package ydoc

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func walkText(t *Type) string {
	var b strings.Builder
	for it := t.start; it != nil; it = it.right {
		if c, ok := it.content.(*contentString); ok && !it.deleted() {
			b.Write(c.s)
		}
	}
	return b.String()
}

func TestSmoke(t *testing.T) {
	raw, err := os.ReadFile("/tmp/smoke/out.json")
	if err != nil {
		t.Skip()
	}
	var f struct {
		Ups   []string
		Text  string
		SV    map[string]uint64
		State string
	}
	json.Unmarshal(raw, &f)
	d := New(Options{})
	for i := len(f.Ups) - 1; i >= 0; i-- {
		u, _ := base64.StdEncoding.DecodeString(f.Ups[i])
		if err := d.ApplyUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if got := walkText(d.root("t")); got != f.Text {
		t.Fatalf("text %q want %q", got, f.Text)
	}
	t.Logf("sv %v pending %v", d.StateVector(), d.pending)
	st := d.EncodeStateAsUpdate(nil)
	d2 := New(Options{})
	if err := d2.ApplyUpdate(st); err != nil {
		t.Fatal(err)
	}
	if got := walkText(d2.root("t")); got != f.Text {
		t.Fatalf("roundtrip text %q want %q", got, f.Text)
	}
	t.Logf("state %s", base64.StdEncoding.EncodeToString(st))
	t.Logf("want  %s", f.State)
}
