package collabd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/collabd/collabd/auth"
	"github.com/collabd/collabd/server"
)

func addAccessFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.auth, "auth", "", `"none" runs without access control even on a non-loopback address (logged as a warning); empty: tokens when keys or a webhook are configured, else open on loopback only`)
	fs.StringVar(&c.authSecret, "auth-secret", "", "HS256 shared secret for tokens (at least 32 bytes; prefer --auth-secret-file or COLLABD_AUTH_SECRET over the command line)")
	fs.StringVar(&c.authSecretFile, "auth-secret-file", "", "file holding the HS256 shared secret")
	fs.StringVar(&c.authKeys, "auth-keys", "", "PEM or JWKS file of public keys for EdDSA, ES256 and RS256 tokens, picked by kid; re-read on SIGHUP")
	fs.StringVar(&c.authAudience, "auth-audience", "", "tokens must carry this aud (empty: not checked)")
	fs.StringVar(&c.authIssuer, "auth-issuer", "", "tokens must carry this iss (empty: not checked)")
	fs.StringVar(&c.authWebhook, "auth-webhook", "", "URL asked to decide each connection and request (instead of tokens collabd verifies)")
	fs.DurationVar(&c.authWebhookTimeout, "auth-webhook-timeout", auth.DefaultWebhookTimeout, "a webhook that does not answer within this denies")
	fs.DurationVar(&c.authWebhookCache, "auth-webhook-cache", auth.DefaultWebhookCacheTTL, "how long a webhook decision is reused for the same room and token (0: not at all)")

	fs.IntVar(&c.maxRooms, "max-rooms", 0, "rooms held in memory; when full, the room idle the longest hibernates first (0: no limit)")
	fs.IntVar(&c.maxConnsPerRoom, "max-conns-per-room", server.DefaultConnsPerRoom, "WebSocket connections per room (0: no limit)")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", server.DefaultConnsPerIP, "WebSocket connections per client address (0: no limit)")
	fs.Float64Var(&c.rateMessages, "rate-messages", server.DefaultMessagesPerSecond, "messages a second per connection, on average (0: no limit)")
	fs.IntVar(&c.rateMessageBurst, "rate-message-burst", server.DefaultMessageBurst, "messages a connection may send at once above its rate")
	fs.Float64Var(&c.rateBytes, "rate-bytes", server.DefaultBytesPerSecond, "bytes a second per connection, on average (0: no limit)")
	fs.IntVar(&c.rateByteBurst, "rate-byte-burst", 0, "bytes a connection may send at once above its rate (0: --max-frame-size)")
	fs.DurationVar(&c.handshakeTimeout, "handshake-timeout", 10*time.Second, "time a client has to send its request headers (the WebSocket handshake)")
	fs.Int64Var(&c.maxBodySize, "max-body-size", server.DefaultMaxFrameSize, "largest REST request body, bytes")
	fs.StringVar(&c.adminAddr, "admin-addr", "", "address of the admin listener: Prometheus /metrics and /debug/pprof (empty: off; keep it private)")
}

// limits are the configured per-client limits; a flag of 0 turns a limit
// off (server.Limits takes a negative value for that).
func (c *config) limits() server.Limits {
	off := func(v float64) float64 {
		if v == 0 {
			return -1
		}
		return v
	}
	offInt := func(v int) int { return int(off(float64(v))) }
	return server.Limits{
		MessagesPerSecond: off(c.rateMessages),
		MessageBurst:      c.rateMessageBurst,
		BytesPerSecond:    off(c.rateBytes),
		ByteBurst:         c.rateByteBurst,
		ConnsPerRoom:      offInt(c.maxConnsPerRoom),
		ConnsPerIP:        offInt(c.maxConnsPerIP),
	}
}

// secret returns the HS256 secret of --auth-secret or --auth-secret-file.
func (c *config) secret() ([]byte, error) {
	switch {
	case c.authSecret != "" && c.authSecretFile != "":
		return nil, usageError{errors.New("--auth-secret and --auth-secret-file: give one")}
	case c.authSecretFile != "":
		b, err := os.ReadFile(c.authSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--auth-secret-file: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	case c.authSecret != "":
		return []byte(c.authSecret), nil
	}
	return nil, nil
}

// newAuthorizer builds the configured access control: a JWT verifier
// (a secret and/or public keys), a webhook, or none (nil). reload re-reads
// what can change while collabd runs (the key file); it is nil when there
// is nothing to re-read.
func newAuthorizer(c *config) (a auth.Authorizer, reload func() error, err error) {
	secret, err := c.secret()
	if err != nil {
		return nil, nil, err
	}
	jwtConfigured := len(secret) > 0 || c.authKeys != ""
	switch c.auth {
	case "":
	case "none":
		if jwtConfigured || c.authWebhook != "" {
			return nil, nil, usageError{errors.New("--auth=none with keys or a webhook configured: choose one")}
		}
		return nil, nil, nil
	default:
		return nil, nil, usageError{fmt.Errorf("--auth=%q: the only value is none", c.auth)}
	}
	switch {
	case jwtConfigured && c.authWebhook != "":
		return nil, nil, usageError{errors.New("--auth-webhook and token keys (--auth-secret, --auth-keys): choose one")}
	case c.authWebhook != "":
		w, err := auth.NewWebhook(auth.WebhookOptions{URL: c.authWebhook, Timeout: c.authWebhookTimeout, CacheTTL: cacheTTL(c.authWebhookCache)})
		if err != nil {
			return nil, nil, usageError{fmt.Errorf("--auth-webhook: %w", err)}
		}
		return w, nil, nil
	case jwtConfigured:
		v, err := auth.NewVerifier(auth.VerifierOptions{Secret: secret, KeysFile: c.authKeys, Audience: c.authAudience, Issuer: c.authIssuer})
		if err != nil {
			return nil, nil, usageError{err}
		}
		if c.authKeys != "" {
			reload = v.Reload
		}
		return v, reload, nil
	}
	if c.authAudience != "" || c.authIssuer != "" {
		return nil, nil, usageError{errors.New("--auth-audience and --auth-issuer need token keys (--auth-secret or --auth-keys)")}
	}
	return nil, nil, nil
}

// cacheTTL maps the flag's 0 (no cache) to the webhook's negative.
func cacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// checkOpenAccess refuses to serve every document to anyone on a network:
// without access control collabd listens on loopback only, unless
// --auth=none says otherwise.
func checkOpenAccess(c *config, a auth.Authorizer, addr net.Addr, log *slog.Logger) error {
	switch {
	case a != nil:
		log.Info("access control on", "mode", authMode(c))
		return nil
	case c.auth == "none":
		log.Warn("access control is off (--auth=none): anyone who can reach this address can read, change and delete every document", "addr", addr.String())
		return nil
	case isLoopback(addr):
		log.Warn("no token keys or webhook configured: serving without access control, on loopback only", "addr", addr.String())
		return nil
	}
	return usageError{fmt.Errorf("listening on %s, which is not a loopback address, without access control: "+
		"configure --auth-secret, --auth-keys or --auth-webhook, or pass --auth=none to serve every document to anyone", addr)}
}

func authMode(c *config) string {
	switch {
	case c.authWebhook != "":
		return "webhook"
	case c.authKeys != "" && (c.authSecret != "" || c.authSecretFile != ""):
		return "jwt (secret and keys)"
	case c.authKeys != "":
		return "jwt (keys)"
	}
	return "jwt (secret)"
}

// authModeLabel is the auth_mode metric's label.
func authModeLabel(c *config, a auth.Authorizer) string {
	switch {
	case a == nil && c.auth == "none":
		return "none"
	case a == nil:
		return "open-loopback"
	case c.authWebhook != "":
		return "webhook"
	}
	return "jwt"
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// watchReload calls reload on every SIGHUP until the returned stop is
// called. A failed reload keeps the previous keys.
func watchReload(reload func() error, log *slog.Logger) (stop func()) {
	if reload == nil {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-ch:
				if err := reload(); err != nil {
					log.Error("SIGHUP: reloading the key file failed; the previous keys stay", "err", err)
				} else {
					log.Info("SIGHUP: key file reloaded")
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-exited
	}
}

// runToken is `collabd token`: it mints an HS256 token from the configured
// secret, for local use, and prints it as its last line.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := &config{}
	fs := flag.NewFlagSet("collabd token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rooms, access, sub string
	var ttl time.Duration
	fs.StringVar(&rooms, "room", "", "room names or patterns (* any run of characters, ? one), comma-separated")
	fs.StringVar(&access, "access", "write", "read, write or admin")
	fs.DurationVar(&ttl, "ttl", time.Hour, "lifetime of the token")
	fs.StringVar(&sub, "sub", "", "the user (the token's sub)")
	fs.StringVar(&c.authSecret, "auth-secret", getenv("COLLABD_AUTH_SECRET"), "HS256 shared secret (default $COLLABD_AUTH_SECRET)")
	fs.StringVar(&c.authSecretFile, "auth-secret-file", getenv("COLLABD_AUTH_SECRET_FILE"), "file holding the secret (default $COLLABD_AUTH_SECRET_FILE)")
	fs.StringVar(&c.authAudience, "auth-audience", getenv("COLLABD_AUTH_AUDIENCE"), "aud claim")
	fs.StringVar(&c.authIssuer, "auth-issuer", getenv("COLLABD_AUTH_ISSUER"), "iss claim")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: collabd token --room NAME [--access read|write|admin] [--ttl 1h] [--sub USER]\n\nMints an HS256 token with the configured secret and prints it.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	var names []string
	for _, r := range strings.Split(rooms, ",") {
		if r = strings.TrimSpace(r); r != "" {
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return usageError{errors.New("--room is required")}
	}
	a, err := auth.ParseAccess(access)
	if err != nil {
		return usageError{err}
	}
	secret, err := c.secret()
	if err != nil {
		return err
	}
	if len(secret) == 0 {
		return usageError{errors.New("no secret: set --auth-secret, --auth-secret-file or COLLABD_AUTH_SECRET")}
	}
	tok, err := auth.Mint(secret, auth.MintClaims{Subject: sub, Rooms: names, Access: a, TTL: ttl, Audience: c.authAudience, Issuer: c.authIssuer})
	if err != nil {
		return usageError{err}
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
