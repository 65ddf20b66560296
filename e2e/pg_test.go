//go:build unix

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL for the end-to-end tests: COLLABD_TEST_DATABASE_URL names a
// database in which the tests may create schemas (scripts/test.sh sets it
// to postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Without it,
// or with the server unreachable, the tests that need it skip; under
// CI=true they fail instead. Each test works in a schema of its own,
// collabd_e2e_<random>, which it creates and drops when it ends; collabd
// reaches it through the URL's search_path.

// e2eSchema creates a new schema collabd_e2e_<random> and drops it (with
// everything in it) when the test ends. Register it before starting
// collabd, so that collabd is gone by the time the schema is dropped.
func e2eSchema(t *testing.T, dbURL string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "collabd_e2e_" + hex.EncodeToString(b)
	id := pgx.Identifier{schema}.Sanitize()
	pgExec(t, dbURL, "CREATE SCHEMA "+id)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

// pgExec runs one statement on a connection of its own.
func pgExec(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// pgQuery runs a query on a connection of its own and hands each row to
// scan.
func pgQuery(t *testing.T, dbURL, sql string, scan func(pgx.Rows) error, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// schemaTables lists the tables in schema.
func schemaTables(t *testing.T, dbURL, schema string) []string {
	t.Helper()
	var tables []string
	pgQuery(t, dbURL, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
		func(r pgx.Rows) error {
			var name string
			err := r.Scan(&name)
			tables = append(tables, name)
			return err
		}, schema)
	return tables
}

// publicHasDocuments reports whether the public schema has a documents
// table (collabd's tables must land in the URL's search_path instead).
func publicHasDocuments(t *testing.T, dbURL string) bool {
	t.Helper()
	var has bool
	pgQuery(t, dbURL, `SELECT to_regclass('public.documents') IS NOT NULL`, func(r pgx.Rows) error { return r.Scan(&has) })
	return has
}

// collabdDatabaseURL is dbURL with search_path set to schema and, if
// hostPort is not empty, the server replaced by hostPort (a proxy).
func collabdDatabaseURL(t *testing.T, dbURL, schema, hostPort string) string {
	t.Helper()
	if strings.Contains(dbURL, "://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatalf("COLLABD_TEST_DATABASE_URL: %v", err)
		}
		if hostPort != "" {
			u.Host = hostPort
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	// A key=value connection string: later settings win.
	s := dbURL + " search_path=" + schema
	if hostPort != "" {
		host, port, err := net.SplitHostPort(hostPort)
		if err != nil {
			t.Fatal(err)
		}
		s += " host=" + host + " port=" + port
	}
	return s
}

// databaseAddr is the host:port of the database server, or skips the test
// if it is not reached over TCP.
func databaseAddr(t *testing.T, dbURL string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("COLLABD_TEST_DATABASE_URL: %v", err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		t.Skipf("the test database is reached over a Unix socket (%s); the proxy needs TCP", cfg.Host)
	}
	return net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
}

// tcpProxy forwards TCP connections from its address to a target. cut
// closes every connection and stops listening (connections are refused, as
// by a database server that is down); restore listens on the same address
// again. cutAtCommit cuts right after a COMMIT has reached the server and
// before its answer can come back: the worst moment for the client, which
// cannot know whether its transaction committed.
type tcpProxy struct {
	target string
	addr   string // fixed after start: collabd's URL names it
	wg     sync.WaitGroup

	mu       sync.Mutex
	ln       net.Listener // nil while cut
	gen      int          // counts restores; a connection of an older listener is not forwarded
	conns    map[net.Conn]struct{}
	closed   bool
	atCommit chan struct{} // armed by cutAtCommit; closed once the cut is done
	frozen   bool          // nothing is forwarded (the cut follows)
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.mu.Lock()
	p.serveLocked(ln)
	p.mu.Unlock()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.gen++
	gen := p.gen
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.forward(c, gen) })
		}
	})
}

func (p *tcpProxy) forward(client net.Conn, gen int) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.closed || p.ln == nil || p.gen != gen {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.pipe(server, client, true)
		close(done)
	}()
	p.pipe(client, server, false)
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// commitMsg is a simple-protocol query COMMIT: 'Q', int32 length, text.
var commitMsg = []byte("Q\x00\x00\x00\x0bCOMMIT\x00")

// pipe copies from src to dst until either fails, then closes both. While
// the proxy is frozen it drops what it reads. upstream is the client to
// server direction, where cutAtCommit looks for a COMMIT.
func (p *tcpProxy) pipe(dst, src net.Conn, upstream bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen, armed := p.frozen, p.atCommit != nil
			p.mu.Unlock()
			if !frozen {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
				if upstream && armed && bytes.Contains(bytes.ToUpper(buf[:n]), commitMsg) {
					p.commitSent()
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// commitSent freezes the proxy the moment an armed cutAtCommit sees a
// COMMIT go to the server, so that its answer is never forwarded, and cuts
// a little later, once the server has had the time to commit.
func (p *tcpProxy) commitSent() {
	p.mu.Lock()
	defer p.mu.Unlock()
	done := p.atCommit
	if done == nil || p.frozen {
		return
	}
	p.frozen = true
	p.wg.Go(func() {
		time.Sleep(100 * time.Millisecond)
		p.mu.Lock()
		p.frozen = false
		p.atCommit = nil
		p.cutLocked()
		p.mu.Unlock()
		close(done)
	})
}

// cutAtCommit cuts the proxy once a COMMIT has reached the server (see
// commitSent), or after timeout whatever goes through; it reports whether
// it caught a COMMIT.
func (p *tcpProxy) cutAtCommit(timeout time.Duration) bool {
	done := make(chan struct{})
	p.mu.Lock()
	p.atCommit = done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
	}
	p.mu.Lock()
	if p.atCommit == done && !p.frozen {
		p.atCommit = nil
		p.cutLocked()
		p.mu.Unlock()
		return false
	}
	p.mu.Unlock()
	<-done
	return true
}

// cut closes the listener and every forwarded connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *tcpProxy) cutLocked() {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// restore listens on the proxy's address again.
func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serveLocked(ln)
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			t.Fatalf("proxy: listening on %s again: %v", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *tcpProxy) close() {
	p.cut()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.wg.Wait()
}
