package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/ydoc"
	"github.com/collabd/collabd/yprotocol"
)

var testSecret = []byte("a test secret that is long enough for HS256")

func newAuthServer(t *testing.T, opts Options) (base string) {
	t.Helper()
	v, err := auth.NewVerifier(auth.VerifierOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	opts.Auth = v
	hs, _, _ := newServerWith(t, opts)
	return hs.URL
}

func mint(t *testing.T, access auth.Access, ttl time.Duration, rooms ...string) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, auth.MintClaims{Subject: "ada", Rooms: rooms, Access: access, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func doAuth(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// TestEveryRESTRouteChecksAccess: no token is 401, a token for another
// room or with too little access is 403, and the right token passes.
func TestEveryRESTRouteChecksAccess(t *testing.T) {
	base := newAuthServer(t, Options{})
	c := &client{ydoc.New(ydoc.Options{ClientID: 3})}
	admin := mint(t, auth.AccessAdmin, time.Hour, "notes")
	if code, b := doAuth(t, "POST", base+"/api/docs/notes/update", admin, c.insert(t, "x")); code != 200 {
		t.Fatalf("setup: %d %s", code, b)
	}
	if code, b := doAuth(t, "POST", base+"/api/docs/notes/history", admin, nil); code != 201 {
		t.Fatalf("setup: %d %s", code, b)
	}
	routes := []struct {
		method, path string
		need         auth.Access
		body         []byte
	}{
		{"GET", "/api/docs/notes", auth.AccessRead, nil},
		{"GET", "/api/docs/notes/update", auth.AccessRead, nil},
		{"GET", "/api/docs/notes/history", auth.AccessRead, nil},
		{"GET", "/api/docs/notes/history/1", auth.AccessRead, nil},
		{"POST", "/api/docs/notes/update", auth.AccessWrite, c.insert(t, "y")},
		{"POST", "/api/docs/notes/history", auth.AccessWrite, nil},
		{"POST", "/api/docs/notes/history/1/restore", auth.AccessWrite, nil},
		{"GET", "/api/docs", auth.AccessAdmin, nil},
		{"DELETE", "/api/docs/notes", auth.AccessAdmin, nil},
	}
	for _, rt := range routes {
		name := rt.method + " " + rt.path
		expired := mint(t, auth.AccessAdmin, time.Nanosecond, "*")
		other := mint(t, auth.AccessAdmin, time.Hour, "other", "notes-*")
		cases := []struct {
			token string
			want  int
		}{
			{"", 401},
			{"not.a.token", 401},
			{expired, 401},
		}
		if rt.path != "/api/docs" { // the list has no room: it shows what the token covers
			cases = append(cases, struct {
				token string
				want  int
			}{other, 403})
		}
		if rt.need > auth.AccessRead {
			cases = append(cases, struct {
				token string
				want  int
			}{mint(t, rt.need-1, time.Hour, "notes", "*"), 403})
		}
		for _, tc := range cases {
			code, b := doAuth(t, rt.method, base+rt.path, tc.token, rt.body)
			if code != tc.want || !bytes.Contains(b, []byte(`"error"`)) {
				t.Errorf("%s with token %.20q: %d %s, want %d with a JSON reason", name, tc.token, code, b, tc.want)
			}
		}
	}
	// An admin token lists the documents its rooms cover.
	for _, tc := range []struct {
		rooms []string
		want  string
	}{{[]string{"notes"}, `"name":"notes"`}, {[]string{"other", "notes-*"}, `"documents":[]`}} {
		code, b := doAuth(t, "GET", base+"/api/docs", mint(t, auth.AccessAdmin, time.Hour, tc.rooms...), nil)
		if code != 200 || !bytes.Contains(b, []byte(tc.want)) {
			t.Errorf("list with rooms %q: %d %s, want %s", tc.rooms, code, b, tc.want)
		}
	}
	// The right access passes (DELETE last: it removes the document).
	for _, rt := range routes {
		tok := mint(t, rt.need, time.Hour, "notes")
		if code, b := doAuth(t, rt.method, base+rt.path+"?token="+tok, "", rt.body); code == 401 || code == 403 || code >= 500 {
			t.Errorf("%s %s with %v access via ?token=: %d %s", rt.method, rt.path, rt.need, code, b)
		}
	}
	if code, b := doAuth(t, "GET", base+"/api/docs/notes", admin, nil); code != 404 {
		t.Errorf("after DELETE: %d %s", code, b)
	}
	// Health and the demo need no token.
	for _, p := range []string{"/healthz", "/readyz", "/"} {
		if code, b := doAuth(t, "GET", base+p, "", nil); code != 200 {
			t.Errorf("GET %s without a token: %d %s", p, code, b)
		}
	}
}

func wsURL(base, path string) string { return strings.Replace(base, "http", "ws", 1) + path }

func dialStatus(t *testing.T, url string) (*websocket.Conn, int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return nil, resp.StatusCode, b.Bytes()
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws, http.StatusSwitchingProtocols, nil
}

func TestWebSocketUpgradeChecksAccess(t *testing.T) {
	base := newAuthServer(t, Options{})
	for _, route := range []string{"/ws/notes", "/parties/main/notes"} {
		for _, tc := range []struct {
			query string
			want  int
		}{
			{"", 401},
			{"?token=garbage", 401},
			{"?token=" + mint(t, auth.AccessWrite, time.Hour, "other"), 403},
			{"?token=" + mint(t, auth.AccessWrite, time.Hour, "note?x"), 403},
			{"?token=" + mint(t, auth.AccessWrite, time.Hour, "not*"), 101},
			{"?token=" + mint(t, auth.AccessRead, time.Hour, "notes") + "&_pk=abc", 101},
		} {
			_, code, b := dialStatus(t, wsURL(base, route+tc.query))
			if code != tc.want || (code != 101 && !bytes.Contains(b, []byte(`"error"`))) {
				t.Errorf("%s%.30s: %d %s, want %d", route, tc.query, code, b, tc.want)
			}
		}
	}
}

// readUntil reads frames until one holds a message of kind k, or the
// connection closes (its error is returned).
func readUntil(ctx context.Context, ws *websocket.Conn, k yprotocol.Kind, onUpdate func([]byte)) error {
	for {
		_, frame, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		found := false
		_ = yprotocol.Decode(frame, func(m yprotocol.Message) error {
			if (m.Kind == yprotocol.KindUpdate || m.Kind == yprotocol.KindSyncStep2) && onUpdate != nil {
				onUpdate(m.Payload)
			}
			found = found || m.Kind == k
			return nil
		})
		if found {
			return nil
		}
	}
}

func TestReadTokenIsRefusedItsUpdates(t *testing.T) {
	base := newAuthServer(t, Options{})
	ws, code, b := dialStatus(t, wsURL(base, "/ws/notes?token="+mint(t, auth.AccessRead, time.Hour, "notes")))
	if ws == nil {
		t.Fatalf("dial: %d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &client{ydoc.New(ydoc.Options{ClientID: 5})}
	if err := ws.Write(ctx, websocket.MessageBinary, yprotocol.AppendUpdate(nil, c.insert(t, "no"))); err != nil {
		t.Fatal(err)
	}
	if err := readUntil(ctx, ws, yprotocol.KindPermissionDenied, nil); err != nil {
		t.Fatalf("no permission-denied: %v", err)
	}
	if code, _ := doAuth(t, "GET", base+"/api/docs/notes", mint(t, auth.AccessRead, time.Hour, "notes"), nil); code != 404 {
		t.Fatalf("a read token's update created the document: %d", code)
	}
}

func TestExpiredTokenClosesTheConnection(t *testing.T) {
	base := newAuthServer(t, Options{})
	ws, code, b := dialStatus(t, wsURL(base, "/ws/notes?token="+mint(t, auth.AccessWrite, 1500*time.Millisecond, "notes")))
	if ws == nil {
		t.Fatalf("dial: %d %s", code, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if got := websocket.CloseStatus(err); got != CloseTokenExpired {
				t.Fatalf("closed with %v (%v), want %d", got, err, CloseTokenExpired)
			}
			break
		}
	}
	// JWT times have second precision: the token ends within a second of
	// the TTL's end.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func TestRateLimitClosesOnlyTheSender(t *testing.T) {
	base := newServerBase(t, Options{Limits: Limits{MessagesPerSecond: 1, MessageBurst: 5}})
	flood, _, _ := dialStatus(t, wsURL(base, "/ws/r"))
	calm, _, _ := dialStatus(t, wsURL(base, "/ws/r"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &client{ydoc.New(ydoc.Options{ClientID: 8})}
	var err error
	for i := 0; i < 50 && err == nil; i++ {
		err = flood.Write(ctx, websocket.MessageBinary, yprotocol.AppendUpdate(nil, c.insert(t, "x")))
	}
	for err == nil {
		_, _, err = flood.Read(ctx)
	}
	if got := websocket.CloseStatus(err); got != CloseRateLimited {
		t.Fatalf("flooder closed with %v (%v), want %d", got, err, CloseRateLimited)
	}
	// The other connection of the room goes on syncing.
	d := &client{ydoc.New(ydoc.Options{ClientID: 9})}
	if err := calm.Write(ctx, websocket.MessageBinary, yprotocol.AppendUpdate(nil, d.insert(t, "calm"))); err != nil {
		t.Fatal(err)
	}
	live := ydoc.New(ydoc.Options{})
	for !strings.Contains(live.RootAs("t", ydoc.KindText).String(), "calm") {
		if err := readUntil(ctx, calm, yprotocol.KindUpdate, func(u []byte) { _ = live.ApplyUpdate(u) }); err != nil {
			t.Fatalf("calm connection: %v", err)
		}
	}
}

func newServerBase(t *testing.T, opts Options) string {
	t.Helper()
	hs, _, _ := newServerWith(t, opts)
	return hs.URL
}

func TestConnectionLimits(t *testing.T) {
	base := newServerBase(t, Options{Limits: Limits{ConnsPerRoom: 2, ConnsPerIP: 3}})
	a, _, _ := dialStatus(t, wsURL(base, "/ws/a"))
	dialStatus(t, wsURL(base, "/ws/a"))
	if _, code, b := dialStatus(t, wsURL(base, "/ws/a")); code != 429 || !bytes.Contains(b, []byte("this room")) {
		t.Fatalf("third connection to a room of 2: %d %s", code, b)
	}
	dialStatus(t, wsURL(base, "/parties/main/b"))
	if _, code, b := dialStatus(t, wsURL(base, "/ws/c")); code != 429 || !bytes.Contains(b, []byte("this address")) {
		t.Fatalf("fourth connection from one address: %d %s", code, b)
	}
	// A closed connection frees its place.
	a.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, code, _ := dialStatus(t, wsURL(base, "/ws/a"))
		if ws != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a close: still %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBodySizeLimit(t *testing.T) {
	base := newServerBase(t, Options{MaxBodySize: 100})
	code, b := do(t, "POST", base+"/api/docs/r/update", make([]byte, 101))
	var e struct{ Error string }
	if code != 413 || json.Unmarshal(b, &e) != nil || e.Error == "" {
		t.Fatalf("oversized body: %d %s", code, b)
	}
}
