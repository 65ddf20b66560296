//go:build unix

package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/ydoc"
)

const (
	e2eSecret   = "an e2e secret, long enough for HS256 tokens"
	e2eAudience = "collabd-e2e"
)

// edKey is an Ed25519 signing key with its kid.
type edKey struct {
	kid  string
	priv ed25519.PrivateKey
}

func newEdKey(t *testing.T, kid string) edKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return edKey{kid, priv}
}

// writeJWKS writes a JWKS file of the keys' public halves.
func writeJWKS(t *testing.T, path string, keys ...edKey) {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for _, k := range keys {
		set.Keys = append(set.Keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": k.kid, "alg": "EdDSA",
			"x": base64.RawURLEncoding.EncodeToString(k.priv.Public().(ed25519.PublicKey))})
	}
	b, _ := json.Marshal(set)
	// Write and rename, as an operator's deploy would: a reload never sees
	// half a file.
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// claims are a token's claims for room patterns at access, valid for ttl.
func claims(rooms []string, access string, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"sub": "e2e-user", "rooms": rooms, "access": access, "aud": e2eAudience,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix()}
}

func (k edKey) sign(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hs256(t *testing.T, key []byte, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// with0 returns c with claim k set to v.
func with0(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

// status does an HTTP request with a bearer token and returns the status
// and the JSON error, if any.
func status(t *testing.T, method, target, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	var e struct{ Error string }
	_ = json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Error
}

// upgradeStatus tries a WebSocket upgrade of path with ?token= and returns
// the HTTP status (101 when it would have been upgraded).
func upgradeStatus(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path+"?token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upgrade %s: %v", path, err)
	}
	defer res.Body.Close()
	var e struct{ Error string }
	_ = json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Error
}

// TestAccessControl runs collabd with an HS256 secret, a JWKS key file and
// an audience, and drives it with stock clients and plain HTTP.
func TestAccessControl(t *testing.T) {
	requireClients(t)
	t.Parallel()
	dir := t.TempDir()
	secretFile, keysFile := filepath.Join(dir, "secret"), filepath.Join(dir, "keys.json")
	if err := os.WriteFile(secretFile, []byte(e2eSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyA, keyB := newEdKey(t, "a"), newEdKey(t, "b")
	writeJWKS(t, keysFile, keyA)
	s := startCollabd(t, serverConfig{Args: []string{"--auth-secret-file", secretFile, "--auth-keys", keysFile, "--auth-audience", e2eAudience, "--admin-addr", "127.0.0.1:0"}})

	mint := func(rooms []string, access auth.Access, ttl time.Duration) string {
		tok, err := auth.Mint([]byte(e2eSecret), auth.MintClaims{Subject: "e2e-user", Rooms: rooms, Access: access, TTL: ttl, Audience: e2eAudience})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const room = "team-a/notes"
	var r struct {
		Intruders []struct {
			Synced, Connected bool
			Text              string
		}
		Read struct {
			Before, After, DeniedReason, WriterText string
			Status, Denied                          int
		}
		Spoof  struct{ WriterAsSeen *string }
		Expiry struct {
			Closes []int
			Text   string
		}
	}
	scenario(t, s, "auth.mjs", map[string]any{
		"room":           room,
		"writeToken":     keyA.sign(t, claims([]string{"team-a/*"}, "write", time.Hour)),
		"otherRoomToken": mint([]string{"team-b/*", "team-a"}, auth.AccessAdmin, time.Hour),
		"readToken":      mint([]string{room}, auth.AccessRead, time.Hour),
		"restToken":      mint([]string{room}, auth.AccessRead, time.Hour),
		"shortToken":     mint([]string{room}, auth.AccessWrite, 10*time.Second),
		"freshToken":     mint([]string{room}, auth.AccessWrite, time.Hour),
		"malloryToken":   keyA.sign(t, with0(claims([]string{room}, "write", time.Hour), "sub", "mallory")),
	}, 60*time.Second, &r)

	if len(r.Intruders) != 4 {
		t.Fatalf("intruders: %+v", r.Intruders)
	}
	for i, in := range r.Intruders {
		if in.Synced || in.Connected || in.Text != "" {
			t.Errorf("intruder %d (wrong room or no token) got in: %+v", i, in)
		}
	}
	if r.Read.Denied == 0 || !strings.Contains(r.Read.DeniedReason, "read") {
		t.Errorf("read token: %d permission-denied messages, reason %q", r.Read.Denied, r.Read.DeniedReason)
	}
	if r.Read.Status != 200 || r.Read.Before == "" || r.Read.Before != r.Read.After || r.Read.WriterText != "hello" {
		t.Errorf("a read token's edit changed the stored document (status %d, equal %v, writer sees %q)", r.Read.Status, r.Read.Before == r.Read.After, r.Read.WriterText)
	}
	if r.Spoof.WriterAsSeen == nil || *r.Spoof.WriterAsSeen != "writer" {
		t.Errorf("after a forged awareness update the others see the writer as %v", r.Spoof.WriterAsSeen)
	}
	if len(r.Expiry.Closes) == 0 || r.Expiry.Closes[0] != 4401 || !strings.HasPrefix(r.Expiry.Text, "renewed hello") {
		t.Errorf("expiry: closes %v, text %q", r.Expiry.Closes, r.Expiry.Text)
	}

	got := scrape(t, s)
	for _, reason := range []string{"auth", "forbidden", "spoof", "read_only", "expired"} {
		if v := got[`collabd_rejections_total{reason="`+reason+`"}`]; v < 1 {
			t.Errorf("rejections_total{reason=%q} = %v after the scenario", reason, v)
		}
	}
	if v := got[`collabd_connections_total{route="partykit"}`]; v < 1 {
		t.Errorf("connections_total{route=\"partykit\"} = %v", v)
	}

	// Bad tokens, on both WebSocket routes and REST: 401 before any upgrade.
	pubDER, _ := x509.MarshalPKIXPublicKey(keyA.priv.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	keysJSON, _ := os.ReadFile(keysFile)
	good := claims([]string{"team-a/*"}, "write", time.Hour)
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	confused := func(key []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good)
		tok.Header["kid"] = "a"
		s, _ := tok.SignedString(key)
		return s
	}
	bad := map[string]string{
		"expired":                        keyA.sign(t, with("exp", time.Now().Add(-time.Minute).Unix())),
		"not yet valid":                  keyA.sign(t, with("nbf", time.Now().Add(time.Hour).Unix())),
		"no exp":                         keyA.sign(t, with("exp", nil)),
		"wrong signature":                newEdKey(t, "a").sign(t, good),
		"unknown kid":                    newEdKey(t, "zz").sign(t, good),
		"wrong audience":                 keyA.sign(t, with("aud", "someone-else")),
		"wrong secret":                   hs256(t, []byte("not the secret, but just as long as it"), good),
		"alg none":                       noneTok,
		"key confusion (public key PEM)": confused(pubPEM),
		"key confusion (raw public key)": confused(keyA.priv.Public().(ed25519.PublicKey)),
		"key confusion (the JWKS file)":  confused(keysJSON),
		"garbage":                        "eyJ.not-a.token",
		"none at all":                    "",
	}
	for name, tok := range bad {
		for _, path := range []string{"/ws/" + room, "/parties/main/" + room} {
			if code, msg := upgradeStatus(t, s.Base, path, tok); code != 401 || msg == "" {
				t.Errorf("%s token on %s: %d %q, want 401 with a reason", name, path, code, msg)
			}
		}
		if code, msg := status(t, "GET", s.Base+"/api/docs/"+url.PathEscape(room), tok); code != 401 || msg == "" {
			t.Errorf("%s token on REST: %d %q, want 401", name, code, msg)
		}
	}
	// Cross-room and too little access: 403.
	other := keyA.sign(t, claims([]string{"team-b/*", "team-a"}, "admin", time.Hour))
	reader := mint([]string{room}, auth.AccessRead, time.Hour)
	for _, tc := range []struct{ method, path, token string }{
		{"GET", "/ws/" + room, other},
		{"GET", "/parties/main/" + room, other},
		{"GET", "/api/docs/" + url.PathEscape(room), other},
		{"GET", "/api/docs/" + url.PathEscape(room) + "/update", other},
		{"GET", "/api/docs/" + url.PathEscape(room) + "/history", other},
		{"POST", "/api/docs/" + url.PathEscape(room) + "/update", other},
		{"POST", "/api/docs/" + url.PathEscape(room) + "/history/1/restore", other},
		{"DELETE", "/api/docs/" + url.PathEscape(room), other},
		{"POST", "/api/docs/" + url.PathEscape(room) + "/update", reader},
		{"POST", "/api/docs/" + url.PathEscape(room) + "/history", reader},
		{"DELETE", "/api/docs/" + url.PathEscape(room), mint([]string{room}, auth.AccessWrite, time.Hour)},
		{"GET", "/api/docs", mint([]string{"*"}, auth.AccessWrite, time.Hour)},
	} {
		var code int
		var msg string
		if strings.HasPrefix(tc.path, "/ws/") || strings.HasPrefix(tc.path, "/parties/") {
			code, msg = upgradeStatus(t, s.Base, tc.path, tc.token)
		} else {
			code, msg = status(t, tc.method, s.Base+tc.path, tc.token)
		}
		if code != 403 || msg == "" {
			t.Errorf("%s %s: %d %q, want 403 with a reason", tc.method, tc.path, code, msg)
		}
	}

	// Key rotation: B is added and A retired, each by SIGHUP.
	tokA, tokB := keyA.sign(t, good), keyB.sign(t, good)
	reloadsBefore := len(s.logged("SIGHUP: key file reloaded"))
	hup := func() {
		t.Helper()
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(s.logged("SIGHUP: key file reloaded")) <= reloadsBefore {
			if time.Now().After(deadline) {
				t.Fatal("no reload logged within 5 s of SIGHUP")
			}
			time.Sleep(10 * time.Millisecond)
		}
		reloadsBefore++
	}
	if code, _ := upgradeStatus(t, s.Base, "/ws/"+room, tokB); code != 401 {
		t.Fatalf("key B before it was added: %d", code)
	}
	writeJWKS(t, keysFile, keyA, keyB)
	hup()
	for name, tok := range map[string]string{"A": tokA, "B": tokB} {
		if code, msg := upgradeStatus(t, s.Base, "/ws/"+room, tok); code != 101 {
			t.Errorf("key %s with A and B in the file: %d %q", name, code, msg)
		}
	}
	writeJWKS(t, keysFile, keyB)
	hup()
	if code, _ := upgradeStatus(t, s.Base, "/ws/"+room, tokA); code != 401 {
		t.Errorf("retired key A: %d, want 401", code)
	}
	if code, msg := upgradeStatus(t, s.Base, "/ws/"+room, tokB); code != 101 {
		t.Errorf("key B after A was retired: %d %q", code, msg)
	}
	// A broken file keeps the keys collabd has.
	if err := os.WriteFile(keysFile, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.logged("SIGHUP: reloading the key file failed; the previous keys stay")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a broken key file was not reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, msg := upgradeStatus(t, s.Base, "/ws/"+room, tokB); code != 101 {
		t.Errorf("key B after a broken reload: %d %q", code, msg)
	}
}

// TestOpenAccessOnlyOnLoopback: without keys collabd refuses a
// non-loopback address unless --auth=none says so (with a warning).
func TestOpenAccessOnlyOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts collabd")
	}
	t.Parallel()
	bin := collabdBinary(t)
	cmd := exec.Command(bin, "--addr", "0.0.0.0:0", "--data-dir", t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(stderr.String(), "not a loopback address") {
			t.Fatalf("non-loopback without keys: %v, exit %d, %s", err, cmd.ProcessState.ExitCode(), stderr.String())
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("collabd started on 0.0.0.0 without keys")
	}
	s := startCollabd(t, serverConfig{Addr: "0.0.0.0:0", Args: []string{"--auth=none"}})
	if len(s.logged("access control is off (--auth=none): anyone who can reach this address can read, change and delete every document")) != 1 {
		t.Error("--auth=none was not logged as a warning")
	}
	loop := startCollabd(t, serverConfig{})
	if len(loop.logged("no token keys or webhook configured: serving without access control, on loopback only")) != 1 {
		t.Error("open access on loopback was not logged")
	}
}

// TestAuthWebhook runs collabd with --auth-webhook pointing at a test
// server that decides by the token, and checks its answers reach clients
// as 101, 403 and 503, with its decisions cached.
func TestAuthWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("starts collabd")
	}
	t.Parallel()
	var mu sync.Mutex
	calls := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Room, Token string
			Headers     map[string]string
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		calls[req.Token]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch req.Token {
		case "let-me-write":
			fmt.Fprintf(w, `{"access":"write","user":"ada","rooms":[%q]}`, req.Room)
		case "let-me-read":
			fmt.Fprint(w, `{"access":"read","user":"bob"}`)
		case "slow":
			time.Sleep(3 * time.Second)
			fmt.Fprint(w, `{"access":"write"}`)
		case "broken":
			http.Error(w, "oops", 500)
		default:
			fmt.Fprint(w, `{"access":"none","reason":"not a member of this team"}`)
		}
	}))
	defer hook.Close()
	s := startCollabd(t, serverConfig{Args: []string{"--auth-webhook", hook.URL, "--auth-webhook-timeout", "1s", "--auth-webhook-cache", "1m"}})
	for _, tc := range []struct {
		token string
		want  int
		msg   string
	}{
		{"let-me-write", 101, ""},
		{"let-me-read", 101, ""},
		{"mallory", 403, "not a member of this team"},
		{"slow", 503, ""},
		{"broken", 503, ""},
	} {
		code, msg := upgradeStatus(t, s.Base, "/ws/team", tc.token)
		if code != tc.want || !strings.Contains(msg, tc.msg) {
			t.Errorf("webhook token %q: %d %q, want %d %q", tc.token, code, msg, tc.want, tc.msg)
		}
	}
	c := ydocUpdate(t)
	if code, msg := statusBody(t, "POST", s.Base+"/api/docs/team/update", "let-me-read", c); code != 403 {
		t.Errorf("a read decision on POST update: %d %q", code, msg)
	}
	if code, msg := statusBody(t, "POST", s.Base+"/api/docs/team/update", "let-me-write", c); code != 200 {
		t.Errorf("a write decision on POST update: %d %q", code, msg)
	}
	// Decisions are cached: the same request again does not ask again;
	// failures are not cached.
	for _, tok := range []string{"let-me-write", "mallory", "broken"} {
		upgradeStatus(t, s.Base, "/ws/team", tok)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["let-me-write"] != 2 || calls["mallory"] != 1 || calls["broken"] != 2 {
		t.Errorf("webhook calls %v; want let-me-write 2 (an upgrade, cached, and a POST), mallory 1, broken 2", calls)
	}
}

// ydocUpdate is a small valid Yjs update.
func ydocUpdate(t *testing.T) []byte {
	t.Helper()
	d := ydoc.New(ydoc.Options{ClientID: 77})
	u, err := d.Transact(func(tx *ydoc.Txn) error { return tx.InsertText(d.Root("text"), 0, "hook") })
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func statusBody(t *testing.T, method, target, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct{ Error string }
	_ = json.NewDecoder(res.Body).Decode(&e)
	return res.StatusCode, e.Error
}
