// Package migrations holds collabd's PostgreSQL schema as numbered SQL files
// (0001_init.sql, 0002_….sql, …, embedded in the binary) and applies the
// pending ones at start-up.
//
// Apply runs every pending migration in one transaction, records each in the
// table collabd_migrations (version, name, SHA-256 of its SQL, when it was
// applied) and commits, so a database is always at some migration's
// version, never between two. It first takes a transaction-scoped advisory
// lock (keyed by the schema), so that several collabd processes starting at
// once against one database apply each migration exactly once: the others
// wait for the lock and then find nothing to do.
//
// Apply refuses a database whose schema is newer than the migrations this
// binary knows (ErrNewerSchema: an older collabd must not write to a schema
// it does not understand) and one where an applied migration's SQL differs
// from this binary's (ErrModified: a released migration must never change;
// add a new one instead).
//
// # Writing a migration
//
// Add the next number, NNNN_what.sql, with plain SQL statements (several per
// file are fine; they run with the simple query protocol). Do not qualify
// table names with a schema: Apply sets search_path to the target schema.
// Do not use statements that cannot run in a transaction (CREATE INDEX
// CONCURRENTLY, VACUUM).
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// Table is the name of the table that records applied migrations.
const Table = "collabd_migrations"

// Errors of Apply.
var (
	// ErrNewerSchema: the database has migrations this binary does not
	// know; it was set up by a newer collabd.
	ErrNewerSchema = errors.New("migrations: database schema is newer than this collabd")
	// ErrModified: a migration recorded as applied differs from this
	// binary's migration of the same version.
	ErrModified = errors.New("migrations: an applied migration was modified")
)

// Migration is one numbered SQL file.
type Migration struct {
	// Version is the file's number: 1 for 0001_init.sql.
	Version int
	// Name is the file name without number and extension: "init".
	Name string
	// SQL is the file's content.
	SQL string
	// Checksum is the hex SHA-256 of SQL.
	Checksum string
}

// All returns collabd's migrations, in order. Versions are 1, 2, 3, …
// without gaps.
func All() ([]Migration, error) {
	return parse(files)
}

// Latest returns the version of the newest migration this binary has: the
// schema version Apply brings a database to.
func Latest() int {
	ms, err := All()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// parse reads the *.sql files of fsys.
func parse(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []Migration
	for _, name := range names {
		num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 || rest == "" {
			return nil, fmt.Errorf("migrations: file %s: want NNNN_name.sql with NNNN from 0001", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: v, Name: rest, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: version %d (%s) where %d was expected: versions must be 1, 2, 3, … without gaps or repeats",
				m.Version, m.Name, i+1)
		}
	}
	return ms, nil
}

// DB is what Apply needs of a database handle; *pgx.Conn, *pgxpool.Pool and
// *pgxpool.Conn provide it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options configure Apply. The zero value is the default.
type Options struct {
	// Schema is the PostgreSQL schema that holds collabd's tables; Apply
	// creates it if needed. Empty means the first schema of the
	// connection's search_path (normally "public").
	Schema string

	// migrations replaces the embedded migrations, for tests.
	migrations []Migration
}

// Apply brings the database's schema to the newest migration and returns
// its version (see the package comment). Applying to a database that is
// already up to date changes nothing. ctx bounds the whole of it, including
// waiting for another process that holds the migration lock.
func Apply(ctx context.Context, db DB, opts Options) (version int, err error) {
	ms := opts.migrations
	if ms == nil {
		if ms, err = All(); err != nil {
			return 0, err
		}
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	version, err = apply(ctx, tx, opts.Schema, ms)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("migrations: commit: %w", err)
	}
	return version, nil
}

func apply(ctx context.Context, tx pgx.Tx, schema string, ms []Migration) (int, error) {
	// The lock comes first: concurrent CREATE … IF NOT EXISTS of the same
	// object can fail.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('collabd/migrations/' || coalesce(nullif($1, ''), current_schema(), ''), 0))", schema); err != nil {
		return 0, fmt.Errorf("migrations: lock: %w", err)
	}
	if schema != "" {
		id := pgx.Identifier{schema}.Sanitize()
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+id); err != nil {
			return 0, fmt.Errorf("migrations: create schema %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+id); err != nil {
			return 0, fmt.Errorf("migrations: search_path: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+Table+` (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return 0, fmt.Errorf("migrations: create %s: %w", Table, err)
	}

	rows, err := tx.Query(ctx, "SELECT version, name, checksum FROM "+Table+" ORDER BY version")
	if err != nil {
		return 0, fmt.Errorf("migrations: read %s: %w", Table, err)
	}
	type applied struct {
		version        int
		name, checksum string
	}
	done, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (applied, error) {
		var a applied
		err := r.Scan(&a.version, &a.name, &a.checksum)
		return a, err
	})
	if err != nil {
		return 0, fmt.Errorf("migrations: read %s: %w", Table, err)
	}

	current := 0
	for i, a := range done {
		if a.version > len(ms) {
			return 0, fmt.Errorf("%w: the database is at schema version %d (%q), this collabd knows versions up to %d: run a newer collabd, or point this one at another database or schema",
				ErrNewerSchema, done[len(done)-1].version, done[len(done)-1].name, len(ms))
		}
		if a.version != i+1 {
			return 0, fmt.Errorf("migrations: %s records version %d where %d was expected", Table, a.version, i+1)
		}
		if m := ms[i]; a.checksum != m.Checksum {
			return 0, fmt.Errorf("%w: migration %d (%s) was applied with checksum %s, this collabd's has %s",
				ErrModified, m.Version, m.Name, a.checksum, m.Checksum)
		}
		current = a.version
	}

	for _, m := range ms[current:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return 0, fmt.Errorf("migrations: apply %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+Table+" (version, name, checksum) VALUES ($1, $2, $3)",
			m.Version, m.Name, m.Checksum); err != nil {
			return 0, fmt.Errorf("migrations: record %04d_%s: %w", m.Version, m.Name, err)
		}
		current = m.Version
	}
	return current, nil
}
