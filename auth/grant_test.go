package auth

import (
	"context"
	"testing"
	"time"
)

func TestMatchRoom(t *testing.T) {
	tests := []struct {
		pattern, room string
		want          bool
	}{
		{"notes", "notes", true},
		{"notes", "notes2", false},
		{"notes", "note", false},
		{"notes", "", false},
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"team/*", "team/a", true},
		{"team/*", "team/a/b", true},
		{"team/*", "team/", true},
		{"team/*", "team", false},
		{"team/*", "other/a", false},
		{"*/notes", "a/b/notes", true},
		{"*/notes", "notes", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*b*c", "acb", false},
		{"a*c", "abcbc", true},
		{"a*c", "abcb", false},
		{"**", "x", true},
		{"?", "a", true},
		{"?", "", false},
		{"?", "ab", false},
		{"?", "é", true},   // one code point, two bytes
		{"?", "日", true},   // three bytes
		{"??", "é", false}, // not two bytes
		{"doc-?", "doc-1", true},
		{"doc-?", "doc-12", false},
		{"doc-?/x", "doc-日/x", true},
		{"*日", "本日", true},
		{"*日", "日本", false},
		{"*?", "", false},
		{"*?", "a", true},
		{"a.b", "axb", false}, // '.' is literal
		{"[ab]", "a", false},  // no classes: brackets are literal
		{"[ab]", "[ab]", true},
		{`a\*`, `a\b`, true}, // no escape: backslash is literal, * a glob
		{"a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, tt := range tests {
		if got := matchRoom(tt.pattern, tt.room); got != tt.want {
			t.Errorf("matchRoom(%q, %q) = %v, want %v", tt.pattern, tt.room, got, tt.want)
		}
	}
}

func TestAllows(t *testing.T) {
	g := Grant{Access: AccessWrite, Rooms: []string{"team/*", "lobby"}}
	tests := []struct {
		grant Grant
		room  string
		need  Access
		want  bool
	}{
		{g, "lobby", AccessRead, true},
		{g, "lobby", AccessWrite, true},
		{g, "lobby", AccessAdmin, false},
		{g, "team/x", AccessWrite, true},
		{g, "lobby2", AccessRead, false},
		{g, "", AccessRead, false},
		{g, "lobby", AccessNone, true},
		{Grant{Access: AccessNone, Rooms: []string{"*"}}, "x", AccessNone, false},
		{Grant{Access: AccessRead}, "x", AccessRead, false},
		{Unrestricted(), "", AccessAdmin, true},
		{Unrestricted(), "any/room", AccessAdmin, true},
		// Allows does not look at Expires.
		{Grant{Access: AccessRead, Rooms: []string{"x"}, Expires: time.Unix(1, 0)}, "x", AccessRead, true},
	}
	for _, tt := range tests {
		if got := tt.grant.Allows(tt.room, tt.need); got != tt.want {
			t.Errorf("%+v.Allows(%q, %v) = %v, want %v", tt.grant, tt.room, tt.need, got, tt.want)
		}
	}
}

func TestExpiredAt(t *testing.T) {
	exp := testNow
	tests := []struct {
		g    Grant
		now  time.Time
		want bool
	}{
		{Grant{}, testNow, false},
		{Grant{Expires: exp}, exp.Add(-time.Nanosecond), false},
		{Grant{Expires: exp}, exp, true},
		{Grant{Expires: exp}, exp.Add(time.Hour), true},
	}
	for _, tt := range tests {
		if got := tt.g.ExpiredAt(tt.now); got != tt.want {
			t.Errorf("Grant{Expires: %v}.ExpiredAt(%v) = %v, want %v", tt.g.Expires, tt.now, got, tt.want)
		}
	}
}

func TestParseAccess(t *testing.T) {
	for _, a := range []Access{AccessNone, AccessRead, AccessWrite, AccessAdmin} {
		got, err := ParseAccess(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAccess(%q) = %v, %v; want %v", a.String(), got, err, a)
		}
	}
	for _, s := range []string{"", "Read", "WRITE", "root", " read"} {
		if got, err := ParseAccess(s); err == nil {
			t.Errorf("ParseAccess(%q) = %v, want an error", s, got)
		}
	}
	if got, want := Access(9).String(), "Access(9)"; got != want {
		t.Errorf("Access(9).String() = %q, want %q", got, want)
	}
}

func TestAuthorizerFunc(t *testing.T) {
	var a Authorizer = AuthorizerFunc(func(context.Context, Request) (Grant, error) {
		return Unrestricted(), nil
	})
	g, err := a.Authorize(t.Context(), Request{Room: "x"})
	if err != nil || !g.Allows("x", AccessAdmin) {
		t.Errorf("Authorize = %+v, %v; want an unrestricted grant", g, err)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789ab", 10, "0123456789…"},
		{"a\nb\x00c", 10, "a?b?c"},
		{"ééé", 5, "éé…"},
		{"\xff", 5, "?"},
	}
	for _, tt := range tests {
		if got := truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
