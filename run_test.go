package collabd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/collabd/collabd/auth"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return Run(ctx, Options{}, args, getenv, stdout, stderr)
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantAddr string
		wantIdle time.Duration
	}{
		{"defaults", nil, nil, "127.0.0.1:8080", 10 * time.Second},
		{"environment", nil, map[string]string{"COLLABD_ADDR": ":9000", "COLLABD_IDLE_TIMEOUT": "1m"}, ":9000", time.Minute},
		{"flag beats environment", []string{"--addr", ":9100"}, map[string]string{"COLLABD_ADDR": ":9000"}, ":9100", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if c.addr != tt.wantAddr || c.idleTimeout != tt.wantIdle {
				t.Fatalf("addr %q idle %v, want %q %v", c.addr, c.idleTimeout, tt.wantAddr, tt.wantIdle)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--idle-timeout", "soon"}, nil},
		{nil, map[string]string{"COLLABD_MAX_FRAME_SIZE": "big"}},
		{[]string{"stray"}, nil},
		{[]string{"--log-level", "loud"}, nil},
	} {
		err := run(context.Background(), tc.args, env(tc.env), &bytes.Buffer{}, &bytes.Buffer{})
		var u usageError
		if !errors.As(err, &u) || exitCode(err) != 2 {
			t.Errorf("run(%q, %v) = %v, want a usage error", tc.args, tc.env, err)
		}
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, env(nil), &out, &out)
	if !errors.Is(err, errHelp) || exitCode(err) != 2 {
		t.Fatalf("-h: %v", err)
	}
	for _, flag := range []string{"addr", "data-dir", "database-url", "max-frame-size", "max-document-size",
		"send-queue", "idle-timeout", "ping-interval", "ping-timeout", "write-timeout", "awareness-timeout",
		"shutdown-grace", "allowed-origins", "log-level", "log-format", "history-keep", "history-max-age",
		"compact-entries"} {
		if !strings.Contains(out.String(), "-"+flag) {
			t.Errorf("-h does not list --%s", flag)
		}
	}
	if !strings.Contains(out.String(), "COLLABD_") {
		t.Error("-h does not mention the environment variables")
	}
}

// TestRunServesAndShutsDown starts collabd on a free port with the
// embedded store and stops it the way SIGTERM does (context cancel).
func TestRunServesAndShutsDown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	w := &syncWriter{buf: &logs}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}, env(nil), w, w)
	}()
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if i := strings.Index(w.String(), `"addr":"`); i >= 0 {
			rest := w.String()[i+len(`"addr":"`):]
			addr = rest[:strings.IndexByte(rest, '"')]
		}
	}
	if addr == "" {
		t.Fatalf("no listen address logged: %s", w.String())
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown hangs")
	}
	if _, err := os.Stat(dir + "/collabd.db"); err != nil {
		t.Fatalf("embedded store not created: %v", err)
	}
}

func TestTokenCommand(t *testing.T) {
	secret := "a secret of at least thirty-two bytes"
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"token", "--room", "notes,team/*", "--access", "admin", "--ttl", "2h", "--sub", "ada"},
		env(map[string]string{"COLLABD_AUTH_SECRET": secret}), &out, &errs)
	if err != nil {
		t.Fatalf("collabd token: %v (%s)", err, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	v, err := auth.NewVerifier(auth.VerifierOptions{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("the printed token does not verify: %v", err)
	}
	if g.User != "ada" || g.Access != auth.AccessAdmin || !g.Allows("team/x", auth.AccessAdmin) || g.Allows("other", auth.AccessRead) {
		t.Errorf("grant %+v", g)
	}
	if d := time.Until(g.Expires); d < time.Hour+55*time.Minute || d > 2*time.Hour+time.Minute {
		t.Errorf("expires in %v, want 2h", d)
	}
	for _, args := range [][]string{{"token"}, {"token", "--room", "x", "--access", "root"}, {"token", "--room", "x"}} {
		e := map[string]string{"COLLABD_AUTH_SECRET": secret}
		if len(args) == 3 {
			e = nil // no secret
		}
		if err := run(context.Background(), args, env(e), &bytes.Buffer{}, &bytes.Buffer{}); exitCode(err) != 2 {
			t.Errorf("collabd %q: %v, want a usage error", args, err)
		}
	}
}

func TestNonLoopbackNeedsAuth(t *testing.T) {
	var errs bytes.Buffer
	err := run(context.Background(), []string{"--addr", "0.0.0.0:0", "--data-dir", t.TempDir()}, env(nil), &bytes.Buffer{}, &errs)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("0.0.0.0 without keys: %v", err)
	}
	for _, args := range [][]string{
		{"--auth=none", "--auth-secret", "a secret of at least thirty-two bytes"},
		{"--auth-webhook", "http://127.0.0.1:1/", "--auth-secret", "a secret of at least thirty-two bytes"},
		{"--auth", "off"},
		{"--auth-secret", "short"},
	} {
		if err := run(context.Background(), append(args, "--data-dir", t.TempDir()), env(nil), &bytes.Buffer{}, &bytes.Buffer{}); exitCode(err) != 2 {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
