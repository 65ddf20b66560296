package server

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/metrics"
)

// Close codes of our own (RFC 6455 leaves 4000–4999 to applications). A
// stock client reconnects after any close; an application that listens for
// the close event can tell these apart.
const (
	// CloseTokenExpired: the connection's token expired; reconnect with a
	// fresh one.
	CloseTokenExpired websocket.StatusCode = 4401
	// CloseDocumentDeleted: an admin deleted the document.
	CloseDocumentDeleted websocket.StatusCode = 4404
	// CloseRateLimited: the connection sent more messages or bytes a
	// second than its limit allows.
	CloseRateLimited websocket.StatusCode = 4429
)

// Limits bound what one client may cost. The zero value of each field is
// its default; a negative value removes the limit.
type Limits struct {
	// MessagesPerSecond and MessageBurst: a token bucket of WebSocket
	// messages per connection.
	MessagesPerSecond float64
	MessageBurst      int
	// BytesPerSecond and ByteBurst: a token bucket of received bytes per
	// connection. The burst is at least the largest frame allowed, so that
	// one maximal frame can pass.
	BytesPerSecond float64
	ByteBurst      int
	// ConnsPerRoom bounds the WebSocket connections of one room, and
	// ConnsPerIP those of one client address (across rooms).
	ConnsPerRoom int
	ConnsPerIP   int
}

// Default limits. A stock editor sends a message per keystroke or cursor
// move, a few a second, and at most a few megabytes at once (a paste, the
// first sync of a large offline document).
const (
	DefaultMessagesPerSecond = 200
	DefaultMessageBurst      = 1000
	DefaultBytesPerSecond    = 4 << 20
	DefaultConnsPerRoom      = 1000
	DefaultConnsPerIP        = 1000
)

func (l Limits) withDefaults(maxFrame int64) Limits {
	if l.MessagesPerSecond == 0 {
		l.MessagesPerSecond = DefaultMessagesPerSecond
	}
	if l.MessageBurst == 0 {
		l.MessageBurst = DefaultMessageBurst
	}
	if l.BytesPerSecond == 0 {
		l.BytesPerSecond = DefaultBytesPerSecond
	}
	if l.ByteBurst == 0 || (l.ByteBurst > 0 && int64(l.ByteBurst) < maxFrame) {
		l.ByteBurst = int(min(maxFrame, 1<<40))
	}
	if l.ConnsPerRoom == 0 {
		l.ConnsPerRoom = DefaultConnsPerRoom
	}
	if l.ConnsPerIP == 0 {
		l.ConnsPerIP = DefaultConnsPerIP
	}
	return l
}

// rateLimits are a connection's token buckets; nil fields are unlimited.
// Only the connection's reader uses them.
type rateLimits struct {
	msgs, bytes *rate.Limiter
}

func (s *Server) newRateLimits() rateLimits {
	l := s.opts.Limits
	var rl rateLimits
	if l.MessagesPerSecond > 0 && l.MessageBurst > 0 {
		rl.msgs = rate.NewLimiter(rate.Limit(l.MessagesPerSecond), l.MessageBurst)
	}
	if l.BytesPerSecond > 0 && l.ByteBurst > 0 {
		rl.bytes = rate.NewLimiter(rate.Limit(l.BytesPerSecond), l.ByteBurst)
	}
	return rl
}

// allow takes one message of n bytes, received at now, from the buckets.
func (rl rateLimits) allow(now time.Time, n int) bool {
	if rl.msgs != nil && !rl.msgs.AllowN(now, 1) {
		return false
	}
	return rl.bytes == nil || rl.bytes.AllowN(now, n)
}

// connCounter counts the WebSocket connections of each room and client
// address, for Limits.ConnsPerRoom and ConnsPerIP. Safe for concurrent use.
type connCounter struct {
	mu     sync.Mutex
	byRoom map[string]int
	byIP   map[string]int
}

var (
	errRoomFull = errors.New("too many connections to this room")
	errIPFull   = errors.New("too many connections from this address")
)

// add counts a connection of ip to room, unless a limit is reached.
func (cc *connCounter) add(room, ip string, l Limits) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byRoom == nil {
		cc.byRoom, cc.byIP = make(map[string]int), make(map[string]int)
	}
	if l.ConnsPerRoom > 0 && cc.byRoom[room] >= l.ConnsPerRoom {
		return errRoomFull
	}
	if l.ConnsPerIP > 0 && cc.byIP[ip] >= l.ConnsPerIP {
		return errIPFull
	}
	cc.byRoom[room]++
	cc.byIP[ip]++
	return nil
}

func (cc *connCounter) remove(room, ip string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.byRoom[room]--; cc.byRoom[room] <= 0 {
		delete(cc.byRoom, room)
	}
	if cc.byIP[ip]--; cc.byIP[ip] <= 0 {
		delete(cc.byIP, ip)
	}
}

// clientIP is the address a request came from (the peer of the TCP
// connection; collabd does not trust forwarding headers).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requestToken is the token of a request: ?token= (browsers cannot set
// headers on a WebSocket; y-websocket's params and partysocket's query put
// it there) or an Authorization: Bearer header.
func requestToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authorize decides whether the request may use room (the empty string for
// routes about no single room) at access need. It answers 401 (no token, or
// a token that does not verify), 403 (a valid token not for this room or
// this access) or 503 (the webhook could not decide) with a JSON reason and
// returns false when it may not.
// Without an Authorizer every request may do everything.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, room string, need auth.Access) (auth.Grant, bool) {
	if s.opts.Auth == nil {
		return auth.Unrestricted(), true
	}
	g, err := s.opts.Auth.Authorize(r.Context(), auth.Request{Room: room, Token: requestToken(r), Header: r.Header})
	if err == nil && !g.Expires.IsZero() && !time.Now().Before(g.Expires) {
		err = auth.ErrTokenExpired
	}
	switch {
	case err == nil && room != "" && !g.MatchesRoom(room):
		err = errForbiddenRoom
	case err == nil && g.Access < need:
		err = &accessError{have: g.Access, need: need}
	}
	if err == nil {
		return g, true
	}
	status, reason := http.StatusUnauthorized, metrics.ReasonAuth
	switch {
	case errors.Is(err, auth.ErrForbidden):
		status, reason = http.StatusForbidden, metrics.ReasonForbidden
	case errors.Is(err, auth.ErrUnavailable):
		// The webhook could not decide: deny, but say it is not the
		// client's fault.
		status = http.StatusServiceUnavailable
	}
	s.opts.Metrics.Rejected(reason)
	s.log.Info("request refused", "room", room, "path", r.URL.Path, "status", status, "err", err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="collabd"`)
	}
	writeError(w, status, err.Error())
	return auth.Grant{}, false
}

var errForbiddenRoom = forbidden("token is not valid for this room")

// forbidden is a 403 reason.
func forbidden(msg string) error { return &forbiddenError{msg} }

type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return "auth: forbidden: " + e.msg }
func (e *forbiddenError) Unwrap() error { return auth.ErrForbidden }

type accessError struct{ have, need auth.Access }

func (e *accessError) Error() string {
	return "auth: forbidden: token grants " + e.have.String() + " access, this needs " + e.need.String()
}
func (e *accessError) Unwrap() error { return auth.ErrForbidden }

// retryAfter sets a Retry-After header of d, rounded up to seconds.
func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
}
