package cursors

import (
	"encoding/json"
	"testing"
)

// FuzzParse: a client's message never panics the decoder, and an accepted
// cursor can be sent on as JSON (finite numbers, bounded strings).
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"type":"cursor","x":0.5,"y":1,"name":"Ada","color":"#fff"}`, `{"type":"hide"}`,
		`{"type":"cursor","x":"a"}`, `{"type":"cursor","x":1e400}`, `{}`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		if r.Type != "cursor" && r.Type != "hide" {
			t.Fatalf("accepted type %q", r.Type)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("accepted %+v, which does not encode: %v", r, err)
		}
		if len(r.Color) > 32 || len(r.Name) > 4*64 {
			t.Fatalf("accepted %+v", r)
		}
	})
}
