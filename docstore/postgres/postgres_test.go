package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/docstore/storetest"
	"github.com/collabd/collabd/internal/pgtest"
	"github.com/collabd/collabd/migrations"
)

// These tests need a PostgreSQL server: COLLABD_TEST_DATABASE_URL names a
// database in which they may create schemas (scripts/test.sh sets it to
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). Without it, or
// with the server unreachable, they skip; under CI=true they fail instead.
// Every test works in a schema of its own, collabd_test_<random>, which it
// drops when it ends.

// freshSchema returns the name of a new schema, dropped when the test ends.
// (The store creates it.)
func freshSchema(t testing.TB, url string) string {
	t.Helper()
	schema := "collabd_test_" + randomHex(6)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// openT opens a store in schema, closed when the test ends.
func openT(t testing.TB, url, schema string, opts Options) *Store {
	t.Helper()
	opts.Schema = schema
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	url := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		schema := freshSchema(t, url)
		return func(t *testing.T, cfg storetest.Config) docstore.Store {
			s, err := Open(t.Context(), url, Options{Schema: schema, Retention: cfg.Retention, Now: cfg.Now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// The conformance suite again with one transaction per Append, which the
// benchmarks compare with group commit.
func TestConformanceSolo(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	url := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		schema := freshSchema(t, url)
		return func(t *testing.T, cfg storetest.Config) docstore.Store {
			s, err := Open(t.Context(), url, Options{Schema: schema, Retention: cfg.Retention, Now: cfg.Now})
			if err != nil {
				t.Fatal(err)
			}
			s.solo = true
			return s
		}
	})
}

func TestOpenUnreachable(t *testing.T) {
	// A port nobody listens on: connecting is refused at once.
	start := time.Now()
	_, err := Open(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable", Options{})
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("Open of an unreachable database: %v; want ErrUnavailable, retryable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v", d)
	}
	t.Logf("error: %v", err)
}

func TestOpenNewerSchema(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	s := openT(t, url, schema, Options{})
	if s.SchemaVersion() != migrations.Latest() {
		t.Fatalf("SchemaVersion() = %d, want %d", s.SchemaVersion(), migrations.Latest())
	}
	if _, err := s.Pool().Exec(t.Context(), "INSERT INTO "+migrations.Table+" (version, name, checksum) VALUES ($1, 'future', 'x')",
		migrations.Latest()+1); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), url, Options{Schema: schema})
	if !errors.Is(err, migrations.ErrNewerSchema) || IsRetryable(err) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open of a newer schema: %v; want migrations.ErrNewerSchema, not retryable", err)
	}
	t.Logf("error: %v", err)
}

func TestOpenBadURL(t *testing.T) {
	_, err := Open(t.Context(), "postgres://user:secret@[::1", Options{})
	if err == nil || IsRetryable(err) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open with a bad URL: %v; want an error, not retryable, without the password", err)
	}
}

// TestErrors checks the classification of failures: what wraps which
// sentinel and what is worth retrying.
func TestErrors(t *testing.T) {
	alive := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	pg := func(code, severity string) error {
		return &pgconn.PgError{Code: code, Severity: severity, Message: "m"}
	}
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		is        error
		retryable bool
	}{
		{"not found", alive, docstore.ErrNotFound, docstore.ErrNotFound, false},
		{"closed", alive, docstore.ErrClosed, docstore.ErrClosed, false},
		{"caller cancelled", done, context.Canceled, context.Canceled, false},
		{"caller cancelled, conn closed", done, pgconn.ErrConnClosed, context.Canceled, false},
		{"internal deadline", alive, context.DeadlineExceeded, ErrUnavailable, true},
		{"connection closed", alive, pgconn.ErrConnClosed, ErrUnavailable, true},
		{"eof", alive, fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), ErrUnavailable, true},
		{"net", alive, &net.OpError{Op: "dial", Err: errors.New("refused")}, ErrUnavailable, true},
		{"terminated", alive, pg("57P01", "FATAL"), ErrUnavailable, true},
		{"starting up", alive, pg("57P03", "FATAL"), ErrUnavailable, true},
		{"too many connections", alive, pg("53300", "FATAL"), ErrUnavailable, true},
		{"serialization", alive, pg("40001", "ERROR"), nil, true},
		{"deadlock", alive, pg("40P01", "ERROR"), nil, true},
		{"disk full", alive, pg("53100", "ERROR"), nil, true},
		{"unique violation", alive, pg("23505", "ERROR"), docstore.ErrCorrupt, false},
		{"check violation", alive, pg("23514", "ERROR"), docstore.ErrCorrupt, false},
		{"bad encoding", alive, pg("22021", "ERROR"), docstore.ErrInvalidName, false},
		{"syntax", alive, pg("42601", "ERROR"), nil, false},
		{"auth", alive, pg("28P01", "FATAL"), nil, false},
		{"commit unknown", alive, fmt.Errorf("%w: x", ErrCommitUnknown), ErrCommitUnknown, true},
		{"other", alive, errors.New("something"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := opError(tt.ctx, "load", "doc", tt.err)
			var e *Error
			if !errors.As(err, &e) || e.Op != "load" || e.Doc != "doc" {
				t.Fatalf("opError = %#v, want an *Error for load of doc", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v: not %v", err, tt.is)
			}
			if !errors.Is(err, tt.err) && !errors.Is(tt.err, pgconn.ErrConnClosed) {
				t.Errorf("%v does not wrap the cause %v", err, tt.err)
			}
			if got := IsRetryable(err); got != tt.retryable || e.Retryable() != tt.retryable {
				t.Errorf("%v: retryable %v, want %v", err, got, tt.retryable)
			}
			var r interface{ Retryable() bool }
			if !errors.As(fmt.Errorf("wrapped: %w", err), &r) || r.Retryable() != tt.retryable {
				t.Errorf("the Retryable interface does not find the classification")
			}
			if !strings.HasPrefix(err.Error(), `postgres: load "doc": `) {
				t.Errorf("message %q", err)
			}
		})
	}
}

// TestDeleteWithSQL: an operator deletes a document with plain SQL; its
// updates and versions go with it, and the name can be used again.
func TestDeleteWithSQL(t *testing.T) {
	url := pgtest.URL(t)
	s := openT(t, url, freshSchema(t, url), Options{})
	ctx := t.Context()
	for _, doc := range []string{"doc", "other"} {
		seq, err := s.Append(ctx, doc, []byte("a"), []byte("b"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Compact(ctx, doc, []byte("snap"), seq-1, docstore.TriggerManual); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, "DELETE FROM documents WHERE name = 'doc'"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "doc"); !errors.Is(err, docstore.ErrNotFound) {
		t.Fatalf("Load of a deleted document: %v", err)
	}
	count := func(table string) (n int) {
		t.Helper()
		if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE doc = 'doc'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if u, v := count("updates"), count("versions"); u != 0 || v != 0 {
		t.Fatalf("%d updates and %d versions left of the deleted document", u, v)
	}
	if seq, err := s.Append(ctx, "doc", []byte("new")); err != nil || seq != 1 {
		t.Fatalf("Append to the deleted name = %d, %v; want 1, nil", seq, err)
	}
	if st, err := s.Load(ctx, "other"); err != nil || len(st.Entries) != 1 || string(st.Snapshot) != "snap" {
		t.Fatalf("the other document after the delete: %+v, %v", st, err)
	}
}

func TestKVConformance(t *testing.T) {
	url := pgtest.URL(t)
	storetest.RunKV(t, func(t *testing.T) storetest.Opener {
		schema := freshSchema(t, url)
		return func(t *testing.T, cfg storetest.Config) docstore.Store {
			s, err := Open(t.Context(), url, Options{Schema: schema, Retention: cfg.Retention, Now: cfg.Now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
