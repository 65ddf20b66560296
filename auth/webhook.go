package auth

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Webhook defaults.
const (
	DefaultWebhookTimeout   = 2 * time.Second
	DefaultWebhookCacheTTL  = 10 * time.Second
	DefaultWebhookCacheSize = 10000
)

// maxHookResponse bounds the webhook's answer.
const maxHookResponse = 64 << 10

// maxReason bounds the webhook's reason in an error message, in bytes.
const maxReason = 100

// DefaultWebhookHeaders returns the request headers a Webhook forwards when
// WebhookOptions.Headers is nil.
func DefaultWebhookHeaders() []string {
	return []string{"Cookie", "Authorization", "Origin", "User-Agent", "X-Forwarded-For"}
}

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// URL is the http or https address the decisions are POSTed to.
	URL string
	// Timeout bounds one call, connection and answer included; zero:
	// DefaultWebhookTimeout.
	Timeout time.Duration
	// CacheTTL is how long a decision, allow or deny, is reused for the
	// same room, token and forwarded headers; zero: DefaultWebhookCacheTTL;
	// negative: no cache. An allow is never reused past its expiry.
	CacheTTL time.Duration
	// CacheSize bounds the cached decisions; the oldest goes first. Zero:
	// DefaultWebhookCacheSize.
	CacheSize int
	// Client makes the calls; nil: a client of the default transport that
	// follows no redirect (a redirect answer denies).
	Client *http.Client
	// Headers names the request headers forwarded to the webhook; nil:
	// DefaultWebhookHeaders(); empty and non-nil: none.
	Headers []string
	// Now tells the time for the cache and expiry; nil: time.Now.
	Now func() time.Time
}

// Webhook is an Authorizer that asks an HTTP endpoint of the application
// (see the package comment for the exchange). It is safe for concurrent use.
// Identical requests in flight at the same time share one call.
type Webhook struct {
	url     string
	timeout time.Duration
	ttl     time.Duration // <= 0: no cache
	size    int
	client  *http.Client
	headers []string // canonical names
	now     func() time.Time

	mu       sync.Mutex
	cache    map[cacheKey]*list.Element // guarded by mu; values of order
	order    *list.List                 // guarded by mu; *cacheEntry, oldest first
	inflight map[cacheKey]*hookCall     // guarded by mu
}

type cacheKey [sha256.Size]byte

type cacheEntry struct {
	key     cacheKey
	grant   Grant
	err     error
	expires time.Time
}

// hookCall is a call in flight; grant and err are written before done is
// closed and only read after.
type hookCall struct {
	done  chan struct{}
	grant Grant
	err   error
}

// NewWebhook checks opts and returns a Webhook.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not repeated: it may hold credentials.
		return nil, errors.New("auth: new webhook: URL must be an absolute http or https URL")
	}
	w := &Webhook{
		url:      opts.URL,
		timeout:  opts.Timeout,
		ttl:      opts.CacheTTL,
		size:     opts.CacheSize,
		client:   opts.Client,
		now:      opts.Now,
		cache:    make(map[cacheKey]*list.Element),
		order:    list.New(),
		inflight: make(map[cacheKey]*hookCall),
	}
	switch {
	case w.timeout < 0:
		return nil, errors.New("auth: new webhook: negative timeout")
	case w.timeout == 0:
		w.timeout = DefaultWebhookTimeout
	}
	if w.ttl == 0 {
		w.ttl = DefaultWebhookCacheTTL
	}
	switch {
	case w.size < 0:
		return nil, errors.New("auth: new webhook: negative cache size")
	case w.size == 0:
		w.size = DefaultWebhookCacheSize
	}
	if w.client == nil {
		w.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	hs := opts.Headers
	if hs == nil {
		hs = DefaultWebhookHeaders()
	}
	for _, h := range hs {
		w.headers = append(w.headers, http.CanonicalHeaderKey(h))
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

// Authorize asks the webhook, or its cache, about req. The grant it returns
// has the webhook's access, user, rooms (req.Room when the webhook names
// none) and expiry. Errors: ErrForbidden (access "none", or a 403),
// ErrInvalidToken (a 401), ErrTokenExpired (an expiry already past),
// ErrUnavailable (timeout, network error, another status, a malformed
// answer; never cached). A call runs to its end or Timeout even when ctx is
// cancelled, since other requests may be waiting for it; ctx's values are
// kept.
func (w *Webhook) Authorize(ctx context.Context, req Request) (Grant, error) {
	fwd := w.forwarded(req.Header)
	key := hookKey(req, w.headers, fwd)

	w.mu.Lock()
	if g, err, ok := w.lookupLocked(key); ok {
		w.mu.Unlock()
		return g, err
	}
	if c, ok := w.inflight[key]; ok {
		w.mu.Unlock()
		select {
		case <-c.done:
			return c.grant.clone(), c.err
		case <-ctx.Done():
			return Grant{}, &causeError{msg: ErrUnavailable.Error() + ": request cancelled", kind: ErrUnavailable, cause: ctx.Err()}
		}
	}
	c := &hookCall{done: make(chan struct{})}
	w.inflight[key] = c
	w.mu.Unlock()
	return w.lead(ctx, key, c, req, fwd)
}

// lead makes the call c for everyone waiting on it, caches its outcome and
// releases the waiters, even if the call panics (a custom RoundTripper
// might), so that nobody waits forever.
func (w *Webhook) lead(ctx context.Context, key cacheKey, c *hookCall, req Request, fwd map[string]string) (Grant, error) {
	c.err = unavailable("webhook call failed", nil) // what waiters see after a panic
	cacheable := false
	defer func() {
		w.mu.Lock()
		delete(w.inflight, key)
		if cacheable && w.ttl > 0 {
			w.storeLocked(key, c.grant, c.err)
		}
		w.mu.Unlock()
		close(c.done)
	}()
	g, err, ok := w.call(ctx, req, fwd)
	c.grant, c.err, cacheable = g.clone(), err, ok
	return g, err
}

// lookupLocked returns a cached decision that has not expired.
func (w *Webhook) lookupLocked(key cacheKey) (Grant, error, bool) {
	el, ok := w.cache[key]
	if !ok {
		return Grant{}, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !w.now().Before(e.expires) {
		w.order.Remove(el)
		delete(w.cache, key)
		return Grant{}, nil, false
	}
	return e.grant.clone(), e.err, true
}

// storeLocked caches a decision for the TTL, or until the grant expires if
// that is sooner, evicting expired and then the oldest entries to stay
// within the size.
func (w *Webhook) storeLocked(key cacheKey, g Grant, err error) {
	now := w.now()
	exp := now.Add(w.ttl)
	if err == nil && !g.Expires.IsZero() && g.Expires.Before(exp) {
		exp = g.Expires
	}
	if el, ok := w.cache[key]; ok {
		w.order.Remove(el)
		delete(w.cache, key)
	}
	for w.order.Len() > 0 {
		front := w.order.Front()
		e := front.Value.(*cacheEntry)
		if w.order.Len() < w.size && now.Before(e.expires) {
			break
		}
		w.order.Remove(front)
		delete(w.cache, e.key)
	}
	w.cache[key] = w.order.PushBack(&cacheEntry{key: key, grant: g.clone(), err: err, expires: exp})
}

// forwarded picks the configured headers out of h. Several values of one
// header are joined as HTTP joins them ("; " for Cookie, else ", ").
func (w *Webhook) forwarded(h http.Header) map[string]string {
	fwd := make(map[string]string)
	for _, name := range w.headers {
		vs := h.Values(name)
		if len(vs) == 0 {
			continue
		}
		sep := ", "
		if name == "Cookie" {
			sep = "; "
		}
		fwd[name] = strings.Join(vs, sep)
	}
	return fwd
}

// hookKey identifies a decision: room, token and forwarded headers, each
// length-prefixed so that no two requests share a key, hashed so that the
// cache holds no raw token.
func hookKey(req Request, names []string, fwd map[string]string) cacheKey {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
	put(req.Room)
	put(req.Token)
	for _, name := range names {
		v, ok := fwd[name]
		if !ok {
			h.Write([]byte{0})
			continue
		}
		h.Write([]byte{1})
		put(v)
	}
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// hookRequest is the body POSTed to the webhook.
type hookRequest struct {
	Room    string            `json:"room"`
	Token   string            `json:"token"`
	Headers map[string]string `json:"headers"`
}

// call asks the webhook once. cacheable is false for errors that say
// nothing about the requester (ErrUnavailable).
func (w *Webhook) call(ctx context.Context, req Request, fwd map[string]string) (g Grant, err error, cacheable bool) {
	body, err := json.Marshal(hookRequest{Room: req.Room, Token: req.Token, Headers: fwd})
	if err != nil {
		return Grant{}, unavailable("encoding the request", err), false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Grant{}, unavailable("building the request", err), false
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(hreq)
	if err != nil {
		return Grant{}, transportError(ctx, err), false
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxHookResponse+1))
	if err != nil {
		return Grant{}, transportError(ctx, err), false
	}
	if len(answer) > maxHookResponse {
		return Grant{}, unavailable(fmt.Sprintf("webhook answer over %d bytes", maxHookResponse), nil), false
	}
	switch resp.StatusCode {
	case http.StatusOK:
		g, err := decodeHookAnswer(answer, req.Room, w.now())
		return g, err, !errors.Is(err, ErrUnavailable)
	case http.StatusUnauthorized:
		return Grant{}, denial(ErrInvalidToken, answerReason(answer)), true
	case http.StatusForbidden:
		return Grant{}, denial(ErrForbidden, answerReason(answer)), true
	}
	return Grant{}, unavailable(fmt.Sprintf("webhook answered status %d", resp.StatusCode), nil), false
}

// transportError describes a failed exchange without the URL, which the
// net/http error repeats and which may hold credentials.
func transportError(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return unavailable("webhook timed out", err)
	}
	return unavailable("webhook unreachable", err)
}

func unavailable(what string, cause error) error {
	return &causeError{msg: ErrUnavailable.Error() + ": " + what, kind: ErrUnavailable, cause: cause}
}

// denial is kind, with the webhook's reason in the message.
func denial(kind error, reason string) error {
	if reason == "" {
		return kind
	}
	return &causeError{msg: kind.Error() + ": " + truncate(reason, maxReason), kind: kind}
}

// answerReason reads the optional reason of a 401 or 403 answer.
func answerReason(answer []byte) string {
	var a struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(answer, &a) != nil {
		return ""
	}
	return a.Reason
}

// hookAnswer is the webhook's 200 answer.
type hookAnswer struct {
	Access  *string         `json:"access"`
	User    string          `json:"user"`
	Rooms   *[]string       `json:"rooms"`
	Expires json.RawMessage `json:"expires"`
	Reason  string          `json:"reason"`
}

// decodeHookAnswer turns a 200 answer about room into a grant or a denial.
// A malformed answer is ErrUnavailable: the webhook is broken, the client
// may be fine.
func decodeHookAnswer(answer []byte, room string, now time.Time) (Grant, error) {
	var a hookAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return Grant{}, unavailable("webhook answer is not the expected JSON", err)
	}
	if a.Access == nil {
		return Grant{}, unavailable("webhook answer has no access", nil)
	}
	access, err := ParseAccess(*a.Access)
	if err != nil {
		return Grant{}, unavailable("webhook answer has an unknown access", err)
	}
	if access == AccessNone {
		return Grant{}, denial(ErrForbidden, a.Reason)
	}
	g := Grant{User: a.User, Access: access}
	switch {
	case a.Rooms != nil:
		if err := checkPatterns(*a.Rooms); err != nil {
			return Grant{}, unavailable("webhook answer rooms: "+err.Error(), nil)
		}
		g.Rooms = *a.Rooms
	case room != "":
		g.Rooms = []string{room}
	}
	if g.Expires, err = parseExpires(a.Expires); err != nil {
		return Grant{}, unavailable("webhook answer expires: "+err.Error(), nil)
	}
	if g.ExpiredAt(now) {
		return Grant{}, ErrTokenExpired
	}
	return g, nil
}

// parseExpires reads an RFC 3339 string or a number of Unix seconds; absent
// or null is no expiry.
func parseExpires(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, errors.New("not an RFC 3339 time")
		}
		return t, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, errors.New("neither a string nor a number")
	}
	f, err := n.Float64()
	// Bounded so that the conversion to nanoseconds cannot overflow.
	if err != nil || f < 0 || f > 1<<33 {
		return time.Time{}, errors.New("unix seconds out of range")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}
