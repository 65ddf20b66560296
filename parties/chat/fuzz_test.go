package chat

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: a client's message never panics the decoder, and an accepted
// post keeps the length limit; names come out clean.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"type":"message","text":"hi"}`, `{"type":"name","name":"Ada"}`, `{"type":"message","text":""}`,
		`{"type":"message","text":"\u0000"}`, `{"type":1}`, `nope`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parse(data, 50)
		if err == nil {
			switch r.Type {
			case "message":
				if utf8.RuneCountInString(r.Text) > 50 || strings.TrimSpace(r.Text) == "" {
					t.Fatalf("accepted %q", r.Text)
				}
			case "name":
			default:
				t.Fatalf("accepted type %q", r.Type)
			}
		}
		n := cleanName(string(data))
		if n == "" || utf8.RuneCountInString(n) > maxName || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("cleanName(%q) = %q", data, n)
		}
	})
}
