package poll

import (
	"testing"
	"unicode/utf8"
)

// FuzzParse: a client's message never panics the decoder, and what it
// accepts keeps the limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"type":"create","question":"q","options":["a","b"]}`, `{"type":"vote","option":1}`,
		`{"type":"close"}`, `{"type":"vote","option":"x"}`, `{"type":"create","options":[]}`, `[]`, `null`, `{"type":"vote","option":1e99}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		switch r.Type {
		case "create":
			if len(r.Options) < 2 || len(r.Options) > MaxOptions || utf8.RuneCountInString(r.Question) > MaxText {
				t.Fatalf("accepted %+v", r)
			}
		case "vote":
			if r.Option == nil {
				t.Fatal("accepted a vote without an option")
			}
		case "close":
		default:
			t.Fatalf("accepted type %q", r.Type)
		}
	})
}
