package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/internal/pgtest"
)

// Failures of the database or the connection to it, made without touching
// the shared PostgreSQL server itself: connections that break at chosen
// moments (faultConn), backends terminated with pg_terminate_backend, and a
// TCP proxy in front of the server that can go down or stall.

// faults breaks a connection when it sends COMMIT, once per arming.
type faults struct {
	mu    sync.Mutex
	armed string // "", "after" (COMMIT reaches the server), "before" (it does not)
	fired int
}

func (f *faults) arm(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = mode
}

func (f *faults) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.armed
	if m != "" {
		f.armed = ""
		f.fired++
	}
	return m
}

func (f *faults) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, f: f}, nil
}

type faultConn struct {
	net.Conn
	f *faults
}

func (c *faultConn) Write(b []byte) (int, error) {
	// COMMIT goes as a simple-protocol query: 'Q', length, text.
	if len(b) > 5 && b[0] == 'Q' && bytes.EqualFold(bytes.TrimRight(b[5:], "\x00; "), []byte("commit")) {
		switch c.f.take() {
		case "after":
			n, err := c.Conn.Write(b)
			c.Conn.Close()
			return n, err
		case "before":
			c.Conn.Close()
			return 0, errors.New("test: connection dropped before COMMIT")
		}
	}
	return c.Conn.Write(b)
}

// TestCommitConnectionLost breaks the connection while a write commits: the
// store finds out whether the transaction committed and, either way, the
// write is stored exactly once and reported as done.
func TestCommitConnectionLost(t *testing.T) {
	url := pgtest.URL(t)
	for _, solo := range []bool{false, true} {
		for _, mode := range []string{"after", "before"} {
			t.Run(fmt.Sprintf("solo=%v/%s", solo, mode), func(t *testing.T) {
				f := &faults{}
				s := openT(t, url, freshSchema(t, url), Options{dial: f.dial})
				s.solo = solo
				ctx := t.Context()
				if _, err := s.Append(ctx, "doc", []byte("first")); err != nil {
					t.Fatal(err)
				}

				f.arm(mode)
				seq, err := s.Append(ctx, "doc", []byte("second"), []byte("third"))
				if err != nil {
					t.Fatalf("Append with the connection lost at COMMIT: %v", err)
				}
				if f.fired != 1 || s.resolved.Load() != 1 {
					t.Fatalf("fault fired %d times, %d commits resolved; want 1, 1", f.fired, s.resolved.Load())
				}
				st, err := s.Load(ctx, "doc")
				if err != nil {
					t.Fatal(err)
				}
				if got := updates(st.Entries); !slices.Equal(got, []string{"first", "second", "third"}) || st.LastSeq != seq {
					t.Fatalf("stored %q up to seq %d, Append returned seq %d", got, st.LastSeq, seq)
				}

				f.arm(mode)
				v, err := s.Compact(ctx, "doc", []byte("snapshot"), seq, docstore.TriggerManual)
				if err != nil {
					t.Fatalf("Compact with the connection lost at COMMIT: %v", err)
				}
				if f.fired != 2 {
					t.Fatalf("fault fired %d times", f.fired)
				}
				vs, err := s.Versions(ctx, "doc")
				if err != nil {
					t.Fatal(err)
				}
				if len(vs) != 1 || vs[0].ID != v.ID {
					t.Fatalf("versions %+v after Compact returned %+v", vs, v)
				}
				if st, err = s.Load(ctx, "doc"); err != nil || string(st.Snapshot) != "snapshot" || len(st.Entries) != 0 {
					t.Fatalf("Load after Compact = %+v, %v", st, err)
				}
			})
		}
	}
}

func updates(es []docstore.Entry) []string {
	us := make([]string, len(es))
	for i, e := range es {
		us[i] = string(e.Update)
	}
	return us
}

// withParam adds a connection parameter to a URL or key=value string.
func withParam(url, key, value string) string {
	if !strings.Contains(url, "://") {
		return url + " " + key + "=" + value
	}
	if strings.Contains(url, "?") {
		return url + "&" + key + "=" + value
	}
	return url + "?" + key + "=" + value
}

// terminate ends every server backend whose application_name is app and
// returns how many it ended.
func terminate(t *testing.T, url, app string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n); err != nil {
		t.Error(err)
	}
	return n
}

// TestTerminateBackends terminates the store's server connections
// (pg_terminate_backend, what a server restart or a failover does to them)
// again and again while writers append and a compactor compacts: every
// operation recovers on fresh connections, every acknowledged update is
// stored, none twice.
func TestTerminateBackends(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	app := schema // identifies this store's backends
	s := openT(t, withParam(url, "application_name", app), schema, Options{})
	ctx := t.Context()

	// Right after a termination, each kind of operation works (reads and
	// writes retry on a fresh connection).
	if _, err := s.Append(ctx, "doc", []byte("seed")); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Append", func() error { _, err := s.Append(ctx, "other", []byte("x")); return err }},
		{"Load", func() error { _, err := s.Load(ctx, "doc"); return err }},
		{"Info", func() error { _, err := s.Info(ctx, "doc"); return err }},
		{"Versions", func() error { _, err := s.Versions(ctx, "doc"); return err }},
		{"Documents", func() error { _, err := s.Documents(ctx); return err }},
		{"Compact", func() error {
			info, err := s.Info(ctx, "other")
			if err == nil {
				_, err = s.Compact(ctx, "other", []byte("snap"), info.LastSeq, docstore.TriggerManual)
			}
			return err
		}},
	}
	for _, op := range ops {
		// Use every pooled connection first, so that each is terminated.
		for range 4 {
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := terminate(t, url, app); n == 0 {
			t.Fatalf("no backend of %s to terminate", app)
		}
		if err := op.fn(); err != nil {
			t.Fatalf("%s right after the store's connections were terminated: %v", op.name, err)
		}
	}

	// Writers and a compactor under repeated terminations.
	const writers = 8
	docs := []string{"a", "b", "c"}
	var (
		mu       sync.Mutex
		acked    = map[string][]string{}
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				doc, u := docs[(w+i)%len(docs)], fmt.Sprintf("w%d-%d", w, i)
				// Retry like a room does; an error means nothing was stored.
				for try := 0; ; try++ {
					_, err := s.Append(ctx, doc, []byte(u))
					if err == nil {
						break
					}
					failures.Add(1)
					if !IsRetryable(err) || errors.Is(err, ErrCommitUnknown) || try == 20 {
						t.Errorf("Append: %v (retryable %v)", err, IsRetryable(err))
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				mu.Lock()
				acked[doc] = append(acked[doc], u)
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // the compactor keeps every document's contents in its snapshot
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, doc := range docs {
				st, err := s.Load(ctx, doc)
				if errors.Is(err, docstore.ErrNotFound) || IsRetryable(err) && !errors.Is(err, ErrCommitUnknown) {
					failures.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("Load: %v", err)
					return
				}
				_, err = s.Compact(ctx, doc, encodeSet(contents(st)), st.LastSeq, docstore.TriggerThreshold)
				if err != nil && !errors.Is(err, docstore.ErrSeqRange) && !(IsRetryable(err) && !errors.Is(err, ErrCommitUnknown)) {
					t.Errorf("Compact: %v", err)
					return
				}
			}
		}
	})
	killed := 0
	for range 30 {
		time.Sleep(15 * time.Millisecond)
		killed += terminate(t, url, app)
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d backends terminated; %d operations failed and were retried; %d commits whose connection broke resolved",
		killed, failures.Load(), s.resolved.Load())

	total := 0
	for _, doc := range docs {
		st, err := s.Load(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		got := contents(st)
		slices.Sort(got)
		want := slices.Clone(acked[doc])
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%q holds %d updates, %d acknowledged; first differences %q", doc, len(got), len(want), firstDiffs(got, want))
		}
		total += len(got)
	}
	t.Logf("%d updates stored exactly once", total)
}

// The compactor's snapshot format: the set of updates it covers.
func encodeSet(set []string) []byte { return []byte("set\n" + strings.Join(set, "\n")) }

func contents(st *docstore.Stored) []string {
	var us []string
	if s, ok := strings.CutPrefix(string(st.Snapshot), "set\n"); ok && s != "" {
		us = strings.Split(s, "\n")
	}
	return append(us, updates(st.Entries)...)
}

// firstDiffs returns up to 10 elements that only one of two sorted slices
// holds (counting duplicates).
func firstDiffs(a, b []string) []string {
	var d []string
	for (len(a) > 0 || len(b) > 0) && len(d) < 10 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			d, a = append(d, "+"+a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			d, b = append(d, "-"+b[0]), b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return d
}

// proxy is a TCP proxy in front of the database that a test can take down
// (connections refused, existing ones cut) or stall (connections accepted
// but no bytes forwarded, like a host that stopped answering).
type proxy struct {
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	cond    *sync.Cond // signalled when stalled or closed change
	addr    string
	ln      net.Listener // nil while down
	conns   map[net.Conn]bool
	stalled bool
	closed  bool
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.up(t)
	t.Cleanup(p.close)
	return p
}

// dial connects to the proxy whatever address pgx asks for.
func (p *proxy) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	p.mu.Lock()
	addr := p.addr
	p.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

func (p *proxy) up(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
}

func (p *proxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil || p.closed {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()
	p.wg.Go(func() { p.pipe(server, client) })
	p.pipe(client, server)
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.stalled && !p.closed {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// down refuses new connections and cuts the existing ones.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = on
	p.cond.Broadcast()
}

func (p *proxy) close() {
	p.down()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

// within runs fn and fails the test if it takes longer than d.
func within(t *testing.T, what string, d time.Duration, fn func() error) error {
	t.Helper()
	start := time.Now()
	err := fn()
	if took := time.Since(start); took > d {
		t.Errorf("%s took %v, want at most %v", what, took, d)
	}
	return err
}

// TestDatabaseDown takes the database away mid-run (through the proxy):
// Ping and every operation fail fast with a retryable ErrUnavailable, and
// all works again, with nothing lost, once the database is back.
func TestDatabaseDown(t *testing.T) {
	url := pgtest.URL(t)
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))
	s := openT(t, url, freshSchema(t, url), Options{dial: p.dial, PingTimeout: 300 * time.Millisecond, ConnectTimeout: time.Second})
	ctx := t.Context()
	var acked []string
	appendOK := func(u string) {
		t.Helper()
		if _, err := s.Append(ctx, "doc", []byte(u)); err != nil {
			t.Fatalf("Append: %v", err)
		}
		acked = append(acked, u)
	}
	appendOK("before")

	p.down()
	wantUnavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) {
			t.Fatalf("%s with the database down: %v; want ErrUnavailable, retryable", what, err)
		}
	}
	err = within(t, "Ping", time.Second, func() error { return s.Ping(ctx) })
	wantUnavailable("Ping", err)
	t.Logf("Ping: %v", err)
	err = within(t, "Append", 2*time.Second, func() error { _, err := s.Append(ctx, "doc", []byte("lost")); return err })
	wantUnavailable("Append", err)
	t.Logf("Append: %v", err)
	err = within(t, "Load", time.Second, func() error { _, err := s.Load(ctx, "doc"); return err })
	wantUnavailable("Load", err)
	err = within(t, "Compact", 2*time.Second, func() error {
		_, err := s.Compact(ctx, "doc", []byte("snap"), 1, docstore.TriggerManual)
		return err
	})
	wantUnavailable("Compact", err)

	p.up(t)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once the database is back: %v", err)
	}
	appendOK("after")

	// A database that stops answering: Ping fails within PingTimeout, an
	// Append when its context ends, and the store recovers after.
	for range 4 { // spread the pool's connections
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.stall(true)
	err = within(t, "Ping", 2*time.Second, func() error { return s.Ping(ctx) })
	wantUnavailable("Ping of a stalled database", err)
	t.Logf("Ping: %v", err)
	actx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = within(t, "Append", 2*time.Second, func() error { _, err := s.Append(actx, "doc", []byte("maybe")); return err })
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append to a stalled database: %v, want its context's deadline", err)
	}
	p.stall(false)
	p.down() // cut the stalled connections
	p.up(t)
	appendOK("recovered")

	st, err := s.Load(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	got := updates(st.Entries)
	// "maybe" was never acknowledged: the database never saw it or rolled
	// it back when the connection was cut.
	if !slices.Equal(got, acked) {
		t.Fatalf("stored %q, acknowledged %q", got, acked)
	}
}
