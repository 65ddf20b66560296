package auth

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Access is a level of access to a room. Levels are ordered: a grant of a
// level includes every level below it.
type Access int

const (
	// AccessNone allows nothing.
	AccessNone Access = iota
	// AccessRead allows syncing a document and sending awareness, but no
	// document updates.
	AccessRead
	// AccessWrite allows document updates as well.
	AccessWrite
	// AccessAdmin allows the administrative REST routes as well.
	AccessAdmin
)

// ParseAccess parses the wire names "none", "read", "write" and "admin"
// (exactly those, lower case).
func ParseAccess(s string) (Access, error) {
	switch s {
	case "none":
		return AccessNone, nil
	case "read":
		return AccessRead, nil
	case "write":
		return AccessWrite, nil
	case "admin":
		return AccessAdmin, nil
	}
	return AccessNone, fmt.Errorf("auth: unknown access level %q (want read, write or admin)", truncate(s, 32))
}

// String returns the wire name of a, as ParseAccess reads it.
func (a Access) String() string {
	switch a {
	case AccessNone:
		return "none"
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessAdmin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Grant is what a verified token, or the webhook, allows.
type Grant struct {
	// User is the token's "sub" claim or the webhook's "user"; it may be
	// empty. It is for logs and presence, never for decisions.
	User string
	// Access is the highest level granted on the rooms.
	Access Access
	// Rooms are exact room names and glob patterns (see MatchesRoom).
	Rooms []string
	// Expires is when the grant ends; the zero time means no expiry (a
	// webhook grant may have none). Allows does not look at it: the
	// Authorizer refuses an already expired grant, and the server ends
	// live connections with a timer set from Expires.
	Expires time.Time
}

// Allows reports whether g covers room at level need: g's level is at least
// need, g grants something (AccessNone allows nothing, whatever need is), and
// one of g.Rooms matches room. It does not check Expires (see Grant).
//
// For a route that is not about one room (room ""), only a pattern that
// matches the empty name covers it, in practice "*".
func (g Grant) Allows(room string, need Access) bool {
	return g.Access > AccessNone && g.Access >= need && g.MatchesRoom(room)
}

// MatchesRoom reports whether one of g.Rooms matches room. A pattern without
// '*' or '?' matches exactly that name. In a pattern, '*' matches any run of
// characters, including none and including '/', and '?' matches exactly one
// character (a UTF-8 encoded code point); every other character stands for
// itself. There is no escape: a room whose name contains '*' or '?' is
// matched by a pattern naming it, but that pattern matches other rooms too.
func (g Grant) MatchesRoom(room string) bool {
	for _, p := range g.Rooms {
		if matchRoom(p, room) {
			return true
		}
	}
	return false
}

// ExpiredAt reports whether g has an expiry and it is not after now.
func (g Grant) ExpiredAt(now time.Time) bool {
	return !g.Expires.IsZero() && !now.Before(g.Expires)
}

// Unrestricted returns the grant of a server running without auth: admin on
// every room, no user, no expiry.
func Unrestricted() Grant {
	return Grant{Access: AccessAdmin, Rooms: []string{"*"}}
}

// clone returns g with its own copy of Rooms, so that a cached grant handed
// to several callers cannot be changed through one of them.
func (g Grant) clone() Grant {
	g.Rooms = slices.Clone(g.Rooms)
	return g
}

// Request is what an Authorizer decides on.
type Request struct {
	// Room is the room the request is about, "" for routes not about one
	// room (such as the admin list).
	Room string
	// Token is the raw bearer token, "" if the client sent none.
	Token string
	// Header holds request headers; the webhook forwards the ones it is
	// configured to. It may be nil.
	Header http.Header
}

// Authorizer decides who a request comes from and what it may do. It returns
// the grant, or an error that wraps ErrNoToken or ErrInvalidToken (answer
// 401), ErrForbidden (403) or ErrUnavailable (503). It does not check that
// the grant covers the request's room at the level the route needs: the
// server does that with Grant.Allows, so that one grant can serve a
// connection that later asks for more (a read-only socket trying to write).
//
// Implementations are safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, req Request) (Grant, error)
}

// AuthorizerFunc adapts a function to the Authorizer interface, for tests and
// for a server without auth:
//
//	auth.AuthorizerFunc(func(context.Context, auth.Request) (auth.Grant, error) {
//		return auth.Unrestricted(), nil
//	})
type AuthorizerFunc func(ctx context.Context, req Request) (Grant, error)

// Authorize calls f(ctx, req).
func (f AuthorizerFunc) Authorize(ctx context.Context, req Request) (Grant, error) {
	return f(ctx, req)
}

// MaxPatternLength is the longest room pattern accepted in a token or a
// webhook answer, in bytes; room names are at most 256 bytes too.
const MaxPatternLength = 256

// maxPatterns bounds the room patterns of one grant, so that matching a room
// against a hostile token stays cheap.
const maxPatterns = 256

// checkPatterns validates the room patterns of a token or a webhook answer.
// The messages name no pattern: they may be shown to a client.
func checkPatterns(rooms []string) error {
	if len(rooms) > maxPatterns {
		return fmt.Errorf("more than %d room patterns", maxPatterns)
	}
	for _, p := range rooms {
		switch {
		case p == "":
			return fmt.Errorf("empty room pattern")
		case len(p) > MaxPatternLength:
			return fmt.Errorf("room pattern longer than %d bytes", MaxPatternLength)
		case !utf8.ValidString(p):
			return fmt.Errorf("room pattern is not UTF-8")
		}
	}
	return nil
}

// matchRoom reports whether the glob pattern matches name (see
// Grant.MatchesRoom). It backtracks only to the most recent '*', which is
// enough for patterns whose only operators are '*' and '?', so it takes at
// most len(pattern)*len(name) steps.
func matchRoom(pattern, name string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == name
	}
	p, n := 0, 0
	// starP is the index just after the last '*' seen, -1 before any;
	// starN is where in name that '*' would resume if the rest fails.
	starP, starN := -1, 0
	for p < len(pattern) || n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				p++
				starP, starN = p, n
				continue
			case '?':
				if n < len(name) {
					_, w := utf8.DecodeRuneInString(name[n:])
					p, n = p+1, n+w
					continue
				}
			default:
				if n < len(name) && name[n] == c {
					p, n = p+1, n+1
					continue
				}
			}
		}
		// Mismatch: let the last '*' swallow one more character of name.
		if starP < 0 || starN >= len(name) {
			return false
		}
		_, w := utf8.DecodeRuneInString(name[starN:])
		starN += w
		p, n = starP, starN
	}
	return true
}

// truncate shortens s to about n bytes, cutting at a character boundary
// and replacing control characters, so that client-supplied text can go
// into an error message.
func truncate(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > n {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
