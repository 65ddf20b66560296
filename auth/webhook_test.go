package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// hook is a webhook endpoint for the tests: it records each request and
// answers with status and body.
type hook struct {
	calls  atomic.Int64
	mu     sync.Mutex
	last   hookRequest
	status int
	body   string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	var req hookRequest
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.last = req
	status, body := h.status, h.body
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (h *hook) answer(status int, body string) {
	h.mu.Lock()
	h.status, h.body = status, body
	h.mu.Unlock()
}

func (h *hook) lastRequest() hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newHook(t *testing.T, opts WebhookOptions) (*hook, *Webhook, *fakeClock) {
	t.Helper()
	h := &hook{status: http.StatusOK, body: `{"access":"read"}`}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clock := &fakeClock{now: testNow}
	opts.URL = srv.URL + "/authorize"
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	w, err := NewWebhook(opts)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	return h, w, clock
}

func TestWebhookAllow(t *testing.T) {
	h, w, _ := newHook(t, WebhookOptions{})
	h.answer(200, `{"access":"write","user":"ada","rooms":["team/*"],"expires":"2026-06-01T13:00:00Z","extra":1}`)
	header := http.Header{}
	header.Add("Cookie", "a=1")
	header.Add("Cookie", "b=2")
	header.Set("Origin", "https://app.example")
	header.Set("X-Secret-Internal", "not forwarded")
	g, err := w.Authorize(t.Context(), Request{Room: "team/notes", Token: "tok", Header: header})
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	want := Grant{User: "ada", Access: AccessWrite, Rooms: []string{"team/*"}, Expires: testNow.Add(time.Hour)}
	if !grantEqual(g, want) {
		t.Errorf("grant = %+v, want %+v", g, want)
	}
	got := h.lastRequest()
	wantReq := hookRequest{Room: "team/notes", Token: "tok", Headers: map[string]string{"Cookie": "a=1; b=2", "Origin": "https://app.example"}}
	if got.Room != wantReq.Room || got.Token != wantReq.Token || !mapsEqual(got.Headers, wantReq.Headers) {
		t.Errorf("webhook got %+v, want %+v", got, wantReq)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestWebhookAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   error // nil: allowed
		grant  Grant // when allowed
		msg    string
	}{
		{"default rooms", 200, `{"access":"read"}`, nil, Grant{Access: AccessRead, Rooms: []string{"r"}}, ""},
		{"unix expires", 200, `{"access":"admin","expires":1780318800}`, nil, Grant{Access: AccessAdmin, Rooms: []string{"r"}, Expires: time.Unix(1780318800, 0)}, ""},
		{"null expires", 200, `{"access":"read","expires":null}`, nil, Grant{Access: AccessRead, Rooms: []string{"r"}}, ""},
		{"access none", 200, `{"access":"none","reason":"not a member\nof team"}`, ErrForbidden, Grant{}, "auth: forbidden: not a member?of team"},
		{"access none without reason", 200, `{"access":"none"}`, ErrForbidden, Grant{}, "auth: forbidden"},
		{"403", 403, `{"reason":"banned"}`, ErrForbidden, Grant{}, "banned"},
		{"403 not JSON", 403, `nope`, ErrForbidden, Grant{}, "auth: forbidden"},
		{"401", 401, `{"reason":"log in"}`, ErrInvalidToken, Grant{}, "auth: invalid token: log in"},
		{"long reason", 403, `{"reason":"` + strings.Repeat("x", 500) + `"}`, ErrForbidden, Grant{}, strings.Repeat("x", maxReason) + "…"},
		{"expires past", 200, `{"access":"read","expires":"2026-06-01T11:00:00Z"}`, ErrTokenExpired, Grant{}, "expired"},
		{"500", 500, `{"access":"admin"}`, ErrUnavailable, Grant{}, "status 500"},
		{"404", 404, ``, ErrUnavailable, Grant{}, "status 404"},
		{"redirect", 302, ``, ErrUnavailable, Grant{}, "status 302"},
		{"not JSON", 200, `<html>`, ErrUnavailable, Grant{}, "not the expected JSON"},
		{"no access", 200, `{"user":"ada"}`, ErrUnavailable, Grant{}, "no access"},
		{"unknown access", 200, `{"access":"root"}`, ErrUnavailable, Grant{}, "unknown access"},
		{"bad rooms", 200, `{"access":"read","rooms":[""]}`, ErrUnavailable, Grant{}, "empty room pattern"},
		{"rooms not strings", 200, `{"access":"read","rooms":[1]}`, ErrUnavailable, Grant{}, "not the expected JSON"},
		{"bad expires", 200, `{"access":"read","expires":"tomorrow"}`, ErrUnavailable, Grant{}, "RFC 3339"},
		{"negative expires", 200, `{"access":"read","expires":-5}`, ErrUnavailable, Grant{}, "out of range"},
		{"huge answer", 200, `{"access":"read","user":"` + strings.Repeat("x", maxHookResponse) + `"}`, ErrUnavailable, Grant{}, "answer over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, w, _ := newHook(t, WebhookOptions{})
			h.answer(tt.status, tt.body)
			g, err := w.Authorize(t.Context(), Request{Room: "r", Token: "t"})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				if !grantEqual(g, tt.grant) {
					t.Errorf("grant = %+v, want %+v", g, tt.grant)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want errors.Is %v (grant %+v)", err, tt.want, g)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to say %q", err, tt.msg)
			}
			for _, other := range []error{ErrForbidden, ErrInvalidToken, ErrUnavailable} {
				if other != tt.want && !errors.Is(tt.want, other) && errors.Is(err, other) {
					t.Errorf("err = %v is also %v", err, other)
				}
			}
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, so that its handlers return
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		start := time.Now()
		_, err := w.Authorize(t.Context(), Request{Room: "r", Token: "t"})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("call %d: err = %v, want ErrUnavailable saying timed out", i, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("call %d took %v with a 50ms timeout", i, d)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("webhook called %d times, want 2 (a timeout is not cached)", got)
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?key=s3cret"
	srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Authorize(t.Context(), Request{Room: "r"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, srv.URL) {
		t.Errorf("err = %q names the webhook URL", msg)
	}
}

func TestWebhookCache(t *testing.T) {
	h, w, clock := newHook(t, WebhookOptions{CacheTTL: 10 * time.Second, Headers: []string{"cookie"}})
	ctx := t.Context()
	ask := func(step string, req Request, wantCalls int64) {
		t.Helper()
		w.Authorize(ctx, req)
		if got := h.calls.Load(); got != wantCalls {
			t.Errorf("%s: %d webhook calls, want %d", step, got, wantCalls)
		}
	}
	base := Request{Room: "r", Token: "t", Header: http.Header{"Cookie": {"s=1"}}}
	ask("first", base, 1)
	ask("same again", base, 1)
	ask("other token", Request{Room: "r", Token: "u", Header: base.Header}, 2)
	ask("other room", Request{Room: "s", Token: "t", Header: base.Header}, 3)
	ask("other cookie", Request{Room: "r", Token: "t", Header: http.Header{"Cookie": {"s=2"}}}, 4)
	ask("no cookie", Request{Room: "r", Token: "t"}, 5)
	ask("header not forwarded differs", Request{Room: "r", Token: "t", Header: http.Header{"Cookie": {"s=1"}, "Origin": {"x"}}}, 5)

	clock.advance(9 * time.Second)
	ask("before the TTL", base, 5)
	clock.advance(time.Second)
	ask("at the TTL", base, 6)
	ask("cached again", base, 6)

	// A denial is cached as well.
	h.answer(403, `{"reason":"no"}`)
	deny := Request{Room: "d", Token: "t"}
	ask("denied", deny, 7)
	_, err := w.Authorize(ctx, deny)
	if !errors.Is(err, ErrForbidden) || h.calls.Load() != 7 {
		t.Errorf("cached denial: err = %v after %d calls, want ErrForbidden after 7", err, h.calls.Load())
	}

	// A failure is not.
	h.answer(500, ``)
	fail := Request{Room: "f", Token: "t"}
	ask("failed", fail, 8)
	ask("failed again", fail, 9)

	// An allow is not reused past its expiry.
	h.answer(200, `{"access":"read","expires":"2026-06-01T12:00:13Z"}`) // 3s after the clock
	short := Request{Room: "e", Token: "t"}
	ask("short grant", short, 10)
	clock.advance(2 * time.Second)
	ask("short grant before expiry", short, 10)
	clock.advance(time.Second)
	ask("short grant at expiry", short, 11)
}

func TestWebhookCacheReturnsCopies(t *testing.T) {
	h, w, _ := newHook(t, WebhookOptions{})
	h.answer(200, `{"access":"read","rooms":["a","b"]}`)
	g1, err := w.Authorize(t.Context(), Request{Room: "a"})
	if err != nil {
		t.Fatal(err)
	}
	g1.Rooms[0] = "*"
	g2, err := w.Authorize(t.Context(), Request{Room: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !slices.Equal(g2.Rooms, want) || h.calls.Load() != 1 {
		t.Errorf("cached grant rooms = %v after %d calls, want %v after 1", g2.Rooms, h.calls.Load(), want)
	}
}

func TestWebhookCacheDisabled(t *testing.T) {
	h, w, _ := newHook(t, WebhookOptions{CacheTTL: -1})
	for range 3 {
		if _, err := w.Authorize(t.Context(), Request{Room: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.calls.Load(); got != 3 {
		t.Errorf("%d webhook calls, want 3", got)
	}
}

func TestWebhookCacheBounded(t *testing.T) {
	h, w, clock := newHook(t, WebhookOptions{CacheSize: 2})
	for _, room := range []string{"a", "b", "c"} {
		w.Authorize(t.Context(), Request{Room: room})
		clock.advance(time.Millisecond)
	}
	// "a" was the oldest and went when "c" came.
	for _, tt := range []struct {
		room  string
		calls int64
	}{{"c", 3}, {"b", 3}, {"a", 4}} {
		w.Authorize(t.Context(), Request{Room: tt.room})
		if got := h.calls.Load(); got != tt.calls {
			t.Errorf("after %q: %d calls, want %d", tt.room, got, tt.calls)
		}
	}
	w.mu.Lock()
	n, m := len(w.cache), w.order.Len()
	w.mu.Unlock()
	if n != 2 || m != 2 {
		t.Errorf("cache holds %d entries (%d in order), want 2", n, m)
	}
}

// blockingTransport is an http.RoundTripper that counts requests and
// answers 500 when released, so that nothing is cached.
type blockingTransport struct {
	calls   atomic.Int64
	release chan struct{}
}

func (b *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	b.calls.Add(1)
	select {
	case <-b.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: r}, nil
}

func TestWebhookSharesCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &blockingTransport{release: make(chan struct{})}
		w, err := NewWebhook(WebhookOptions{URL: "http://hook.invalid/", Client: &http.Client{Transport: tr}})
		if err != nil {
			t.Fatal(err)
		}
		const n = 5
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := w.Authorize(context.Background(), Request{Room: "r", Token: "t"})
				errs <- err
			}()
		}
		go func() { // a different request is not shared
			_, err := w.Authorize(context.Background(), Request{Room: "other", Token: "t"})
			errs <- err
		}()
		synctest.Wait() // all blocked: two in RoundTrip, the rest waiting
		if got := tr.calls.Load(); got != 2 {
			t.Errorf("%d calls in flight, want 2", got)
		}
		close(tr.release)
		for range n + 1 {
			if err := <-errs; !errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable", err)
			}
		}

		// A waiter whose context ends stops waiting.
		tr.release = make(chan struct{})
		go w.Authorize(context.Background(), Request{Room: "r"})
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := w.Authorize(ctx, Request{Room: "r"})
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: err = %v, want ErrUnavailable and context.Canceled", err)
		}
		close(tr.release)
	})
}

func TestWebhookTimeoutInBubble(t *testing.T) {
	// The leader's call is bounded by Timeout even if nobody answers, and
	// a cancelled request context does not cut it short for the others.
	synctest.Test(t, func(t *testing.T) {
		tr := &blockingTransport{release: make(chan struct{})}
		w, err := NewWebhook(WebhookOptions{URL: "http://hook.invalid/", Client: &http.Client{Transport: tr}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		_, err = w.Authorize(ctx, Request{Room: "r"})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want ErrUnavailable saying timed out", err)
		}
		if d := time.Since(start); d != DefaultWebhookTimeout {
			t.Errorf("call took %v, want the default timeout %v", d, DefaultWebhookTimeout)
		}
	})
}

func TestNewWebhookRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts WebhookOptions
		msg  string
	}{
		{"no URL", WebhookOptions{}, "URL must be"},
		{"relative URL", WebhookOptions{URL: "/hook"}, "URL must be"},
		{"ftp", WebhookOptions{URL: "ftp://x/"}, "URL must be"},
		{"negative timeout", WebhookOptions{URL: "http://x/", Timeout: -1}, "negative timeout"},
		{"negative size", WebhookOptions{URL: "http://x/", CacheSize: -1}, "negative cache size"},
	}
	for _, tt := range tests {
		if _, err := NewWebhook(tt.opts); err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want it to say %q", tt.name, err, tt.msg)
		}
	}
}

// panickyTransport blocks until released, then panics.
type panickyTransport struct{ release chan struct{} }

func (p panickyTransport) RoundTrip(*http.Request) (*http.Response, error) {
	<-p.release
	panic("transport bug")
}

func TestWebhookLeaderPanicReleasesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := panickyTransport{release: make(chan struct{})}
		w, err := NewWebhook(WebhookOptions{URL: "http://hook.invalid/", Client: &http.Client{Transport: tr}})
		if err != nil {
			t.Fatal(err)
		}
		recovered := make(chan any, 1)
		go func() {
			defer func() { recovered <- recover() }()
			w.Authorize(context.Background(), Request{Room: "r"})
		}()
		synctest.Wait()
		waiter := make(chan error, 1)
		go func() {
			_, err := w.Authorize(context.Background(), Request{Room: "r"})
			waiter <- err
		}()
		synctest.Wait()
		close(tr.release)
		if r := <-recovered; r == nil {
			t.Error("the leader did not panic")
		}
		if err := <-waiter; !errors.Is(err, ErrUnavailable) {
			t.Errorf("waiter: err = %v, want ErrUnavailable", err)
		}
		w.mu.Lock()
		n := len(w.inflight)
		w.mu.Unlock()
		if n != 0 {
			t.Errorf("%d calls still in flight", n)
		}
	})
}
