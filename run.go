package collabd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/embedded"
	"github.com/collabd/collabd/docstore/postgres"
	"github.com/collabd/collabd/metrics"
	"github.com/collabd/collabd/party"
	"github.com/collabd/collabd/rooms"
	"github.com/collabd/collabd/server"
	"github.com/collabd/collabd/web/demo"
)

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// config is every setting, each a flag with a COLLABD_* environment
// fallback (a flag given on the command line wins).
type config struct {
	addr             string
	dataDir          string
	databaseURL      string
	maxFrameSize     int64
	maxDocumentSize  int
	sendQueue        int
	idleTimeout      time.Duration
	pingInterval     time.Duration
	pingTimeout      time.Duration
	writeTimeout     time.Duration
	awarenessTimeout time.Duration
	shutdownGrace    time.Duration
	allowedOrigins   string
	historyKeep      int
	historyMaxAge    time.Duration
	compactEntries   int
	versionInterval  time.Duration
	logLevel         string
	logFormat        string

	// Access (access.go).
	auth               string
	authSecret         string
	authSecretFile     string
	authKeys           string
	authAudience       string
	authIssuer         string
	authWebhook        string
	authWebhookTimeout time.Duration
	authWebhookCache   time.Duration

	// Limits.
	maxRooms         int
	maxConnsPerRoom  int
	maxConnsPerIP    int
	rateMessages     float64
	rateMessageBurst int
	rateBytes        float64
	rateByteBurst    int
	handshakeTimeout time.Duration
	maxBodySize      int64

	adminAddr string

	cluster clusterConfig // cluster.go
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("collabd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "directory of the embedded store (used when no database URL is set)")
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL (postgres://...); empty uses the embedded store")
	fs.Int64Var(&c.maxFrameSize, "max-frame-size", server.DefaultMaxFrameSize, "largest WebSocket message or REST update accepted, in bytes")
	fs.IntVar(&c.maxDocumentSize, "max-document-size", rooms.DefaultMaxDocumentSize, "largest document, in bytes of its encoded state")
	fs.IntVar(&c.sendQueue, "send-queue", server.DefaultSendQueue, "frames queued per connection before it is closed as too slow")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", rooms.DefaultIdleTimeout, "how long a room without connections stays in memory before it compacts and hibernates")
	fs.DurationVar(&c.pingInterval, "ping-interval", server.DefaultPingInterval, "WebSocket keepalive ping interval")
	fs.DurationVar(&c.pingTimeout, "ping-timeout", server.DefaultPingTimeout, "close a connection whose pong takes longer than this")
	fs.DurationVar(&c.writeTimeout, "write-timeout", server.DefaultWriteTimeout, "deadline of each write to a connection")
	fs.DurationVar(&c.awarenessTimeout, "awareness-timeout", rooms.DefaultAwarenessTimeout, "presence states not renewed for this long expire")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 10*time.Second, "how long shutdown waits for connections to close and rooms to persist")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "", "comma-separated browser origins (host patterns) allowed to connect; empty allows all")
	fs.IntVar(&c.historyKeep, "history-keep", 100, "versions kept per document (the newest always stays); 0 keeps all")
	fs.DurationVar(&c.historyMaxAge, "history-max-age", 0, "versions older than this are removed (the newest always stays); 0 keeps them")
	fs.IntVar(&c.compactEntries, "compact-entries", rooms.DefaultCompactEntries, "a live room compacts (a new version) once its log holds this many updates")
	fs.DurationVar(&c.versionInterval, "version-interval", rooms.DefaultVersionInterval, "while a note is edited, a version is stored this long after the first change since the last one (0: none)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	addAccessFlags(fs, c)
	addClusterFlags(fs, &c.cluster)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: collabd [flags]\n       collabd token --room NAME [--access read|write|admin] [--ttl 1h] [--sub USER]\n\nEvery flag can also be set with an environment variable: COLLABD_ and the\nflag's name in upper case with - as _ (e.g. COLLABD_ADDR). Flags win.\n\n")
		fs.PrintDefaults()
	}
	// Environment first, so that flags on the command line override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "COLLABD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = usageError{fmt.Errorf("%s=%q: %w", name, v, err)}
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	if err := c.checkCluster(); err != nil {
		return nil, err
	}
	return c, nil
}

func newLogger(c *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("log level %q: %w", c.logLevel, err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("log format %q: want text or json", c.logFormat)}
}

// openStore opens the configured store: PostgreSQL when a database URL is
// set (pool settings such as pool_max_conns go in the URL), otherwise the
// embedded store in the data directory.
func openStore(c *config) (docstore.Store, error) {
	if c.databaseURL != "" {
		// Connecting and migrating must not hang start-up on a database
		// that does not answer. Once running, a database that goes down
		// makes /readyz (the store's Ping) report not ready.
		const startup = 30 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), startup)
		defer cancel()
		s, err := postgres.Open(ctx, c.databaseURL, postgres.Options{Retention: c.retention()})
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("PostgreSQL store (--database-url): no answer within %v: %w", startup, err)
		case errors.Is(err, postgres.ErrUnavailable):
			return nil, fmt.Errorf("PostgreSQL store (--database-url): database not reachable: %w", err)
		case err != nil:
			return nil, fmt.Errorf("PostgreSQL store (--database-url): %w", err)
		}
		return s, nil
	}
	if err := os.MkdirAll(c.dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return embedded.Open(filepath.Join(c.dataDir, "collabd.db"), embedded.Options{Retention: c.retention()})
}

// retention is the version history kept per document.
func (c *config) retention() docstore.Retention {
	return docstore.Retention{KeepLast: c.historyKeep, MaxAge: c.historyMaxAge}
}

// Run runs collabd with the settings of args (the command line without the
// program name) and getenv (the COLLABD_* fallbacks) until ctx ends, then
// shuts down in order: stop accepting, close connections with 1001 and
// persist every room, wait for the connections, close the store. Its log
// goes to stderr. "token" as the first argument mints a token instead.
func Run(ctx context.Context, opts Options, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], getenv, stdout, stderr)
	}
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	authz, reload, err := newAuthorizer(c)
	if err != nil {
		return err
	}
	// Listen before opening the store: whether collabd may run without
	// auth depends on the address it really listens on.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := checkOpenAccess(c, authz, ln.Addr(), log); err != nil {
		return err
	}
	// Metrics are counted only when someone can read them.
	var mx *metrics.Metrics
	if c.adminAddr != "" {
		mx = metrics.New()
		mx.SetAuthMode(authModeLabel(c, authz))
	}
	store, err := openStore(c)
	if err != nil {
		return err
	}
	defer store.Close()
	node, roomStore, err := startCluster(c, store, log, mx)
	if err != nil {
		return err
	}

	kv, ok := store.(interface{ KV() docstore.KV })
	if !ok {
		return errors.New("the store has no key-value storage for parties")
	}
	parties := party.NewRegistry(party.Options{Storage: kv.KV(), Logger: log, IdleTimeout: c.idleTimeout, MaxRooms: c.maxRooms})
	if opts.Parties != nil {
		if err := opts.Parties(parties); err != nil {
			return fmt.Errorf("registering parties: %w", err)
		}
	}
	if err := parties.Start(ctx); err != nil {
		return err
	}

	reg := rooms.NewRegistry(rooms.Options{
		Store:            roomStore,
		Logger:           log,
		IdleTimeout:      c.idleTimeout,
		MaxDocumentSize:  c.maxDocumentSize,
		AwarenessTimeout: c.awarenessTimeout,
		CompactEntries:   c.compactEntries,
		MaxRooms:         c.maxRooms,
		VersionInterval:  offDuration(c.versionInterval),
		Metrics:          mx,
	})
	var origins []string
	for _, o := range strings.Split(c.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	so := server.Options{
		Registry:       reg,
		Parties:        parties,
		Logger:         log,
		MaxFrameSize:   c.maxFrameSize,
		SendQueue:      c.sendQueue,
		PingInterval:   c.pingInterval,
		PingTimeout:    c.pingTimeout,
		WriteTimeout:   c.writeTimeout,
		OriginPatterns: origins,
		Ready:          store.Ping,
		Home:           demo.NewHandler(),
		Auth:           authz,
		Limits:         c.limits(),
		MaxBodySize:    c.maxBodySize,
		Metrics:        mx,
	}
	clusterServerOptions(node, &so)
	srv := server.New(so)
	if node != nil {
		if err := node.Start(reg); err != nil {
			return err
		}
	}
	hs := &http.Server{
		Handler: srv,
		// The WebSocket handshake is the request's header: a client that
		// does not finish it in time is dropped.
		ReadHeaderTimeout: c.handshakeTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("collabd listening", "addr", ln.Addr().String(), "store", storeName(c), "parties", strings.Join(parties.Parties(), ","))
	stopReload := watchReload(reload, log)
	defer stopReload()
	var admin *http.Server
	adminErr := make(chan error, 1)
	if mx != nil {
		aln, err := net.Listen("tcp", c.adminAddr)
		if err != nil {
			_ = hs.Close()
			return fmt.Errorf("admin listener (--admin-addr): %w", err)
		}
		// No write timeout: /debug/pprof/profile streams for 30 s.
		admin = &http.Server{Handler: mx.Handler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { adminErr <- admin.Serve(aln) }()
		log.Info("admin listener: /metrics and /debug/pprof", "addr", aln.Addr().String())
		if !isLoopback(aln.Addr()) {
			log.Warn("the admin listener is not on loopback: it serves profiles and metrics to anyone who reaches it", "addr", aln.Addr().String())
		}
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	var errs []error
	if err := hs.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if node != nil {
		// Hands the rooms over: stores them, then releases their leases.
		if err := node.Shutdown(sctx); err != nil {
			errs = append(errs, err)
		}
	} else if err := reg.Shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := parties.Shutdown(sctx); err != nil {
		errs = append(errs, err)
	}
	if err := srv.Wait(sctx); err != nil {
		errs = append(errs, fmt.Errorf("waiting for connections: %w", err))
	}
	if admin != nil {
		_ = admin.Close()
		if err := <-adminErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("admin listener: %w", err))
		}
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

// offDuration maps a flag's 0 (off) to the negative the options take.
func offDuration(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func storeName(c *config) string {
	if c.databaseURL != "" {
		return "postgres"
	}
	return "embedded:" + filepath.Join(c.dataDir, "collabd.db")
}
