// Package pgtest gives tests the PostgreSQL server they may use:
// COLLABD_TEST_DATABASE_URL names a database in which they may create
// schemas (scripts/test.sh sets it). Without it, or with the server
// unreachable, a test skips; under CI=true it fails instead, so CI never
// passes without having run the PostgreSQL tests.
package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL returns the test database's URL after checking that it answers, or
// skips (fails under CI=true) the test.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("COLLABD_TEST_DATABASE_URL")
	if url == "" {
		SkipOrFail(t, "COLLABD_TEST_DATABASE_URL is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		SkipOrFail(t, "PostgreSQL at COLLABD_TEST_DATABASE_URL is not reachable: "+err.Error())
	}
	_ = conn.Close(ctx)
	return url
}

// SkipOrFail skips the test with msg, or fails it under CI=true.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (the PostgreSQL tests must run under CI=true)")
	}
	t.Skip(msg)
}
