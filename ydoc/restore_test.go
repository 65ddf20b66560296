package ydoc

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// finalStates returns the final states Yjs recorded in the differential
// corpus: rich documents with every kind of content.
func finalStates(t *testing.T, n int) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "diff", "s*.json"))
	var out [][]byte
	for _, f := range files {
		if len(out) == n {
			break
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Final struct{ State string } `json:"final"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(s.Final.State)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) < 2 {
		t.Fatal("differential corpus missing")
	}
	return out
}

// content is everything export reads: JSON of every root, and the delta
// and ProseMirror tree of roots that have them.
func exported(d *Doc) map[string]any {
	out := map[string]any{}
	for _, n := range d.RootNames() {
		k := d.RootKind(n)
		r := d.RootAs(n, k)
		out[n+"/json"] = viaJSON(r.JSON())
		if k == KindText {
			out[n+"/delta"] = viaJSON(r.Delta())
		}
		if k == KindXMLFragment {
			out[n+"/pm"] = viaJSON(r.ProseMirrorJSON())
		}
	}
	return out
}

func viaJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestRestoreUpdateReproducesAVersion(t *testing.T) {
	states := finalStates(t, 12)
	for i := 0; i+1 < len(states); i += 2 {
		version, current := states[i], states[i+1]
		want := New(Options{})
		if err := want.ApplyUpdate(version); err != nil {
			t.Fatal(err)
		}
		d := New(Options{})
		replica := New(Options{})
		for _, x := range []*Doc{d, replica} {
			if err := x.ApplyUpdate(current); err != nil {
				t.Fatal(err)
			}
		}
		u, err := d.RestoreUpdate(version, 999_999+uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if got, w := exported(d), exported(want); !sameContent(got, w) {
			t.Fatalf("pair %d: restored content differs:\n got  %v\n want %v", i, got, w)
		}
		// The restore is an ordinary update for every other replica.
		if err := replica.ApplyUpdate(u); err != nil {
			t.Fatal(err)
		}
		if got, w := exported(replica), exported(want); !sameContent(got, w) {
			t.Fatalf("pair %d: replica after the restore update differs", i)
		}
	}
}

// sameContent compares exported content; a root the version lacks must be
// empty after the restore (Yjs cannot remove a root type, only empty it).
func sameContent(got, want map[string]any) bool {
	for k, v := range got {
		if _, ok := want[k]; ok {
			continue
		}
		switch v := v.(type) {
		case string:
			if v != "" {
				return false
			}
		case []any:
			if len(v) != 0 {
				return false
			}
		case map[string]any:
			if len(v) != 0 {
				return false
			}
		case nil:
		default:
			return false
		}
		delete(got, k)
	}
	return reflect.DeepEqual(got, want)
}
