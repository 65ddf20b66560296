package migrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/collabd/collabd/internal/pgtest"
)

// The Apply tests need a PostgreSQL server: COLLABD_TEST_DATABASE_URL names
// a database in which they may create schemas. Without it, or with the
// server unreachable, they skip; under CI=true they fail instead. Each test
// works in a schema of its own, which it drops when it ends.

// connect opens a connection, closed when the test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// freshSchema returns the name of a schema that does not exist yet and is
// dropped when the test ends.
func freshSchema(t *testing.T, url string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "collabd_test_" + hex.EncodeToString(b)
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

type record struct {
	version  int
	name     string
	checksum string
	applied  time.Time
}

// recorded returns the rows of the migrations table in schema.
func recorded(t *testing.T, conn *pgx.Conn, schema string) []record {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT version, name, checksum, applied_at FROM "+
		pgx.Identifier{schema, Table}.Sanitize()+" ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (record, error) {
		var rec record
		err := r.Scan(&rec.version, &rec.name, &rec.checksum, &rec.applied)
		return rec, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// tables returns the tables of schema.
func tables(t *testing.T, conn *pgx.Conn, schema string) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", schema)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestAll(t *testing.T) {
	ms, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 || ms[0].Name != "init" {
		t.Fatalf("migrations = %+v, want 0001_init first", ms)
	}
	for i, m := range ms {
		if m.Version != i+1 || m.SQL == "" || len(m.Checksum) != 64 {
			t.Fatalf("migration %d = %+v", i, m)
		}
		if strings.Contains(m.SQL, "collabd_test") || strings.Contains(strings.ToLower(m.SQL), "public.") {
			t.Fatalf("migration %d names a schema; Apply sets search_path", m.Version)
		}
	}
	if Latest() != len(ms) {
		t.Fatalf("Latest() = %d, want %d", Latest(), len(ms))
	}
}

func TestParse(t *testing.T) {
	sql := &fstest.MapFile{Data: []byte("SELECT 1;")}
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    []int
		wantErr string
	}{
		{"ordered", fstest.MapFS{"0002_b.sql": sql, "0001_a.sql": sql, "README.md": sql}, []int{1, 2}, ""},
		{"none", fstest.MapFS{}, nil, ""},
		{"gap", fstest.MapFS{"0001_a.sql": sql, "0003_c.sql": sql}, nil, "version 3"},
		{"repeat", fstest.MapFS{"0001_a.sql": sql, "0001_b.sql": sql}, nil, "version 1"},
		{"not from 1", fstest.MapFS{"0002_b.sql": sql}, nil, "version 2"},
		{"no name", fstest.MapFS{"0001.sql": sql}, nil, "NNNN_name"},
		{"short number", fstest.MapFS{"1_a.sql": sql}, nil, "NNNN_name"},
		{"zero", fstest.MapFS{"0000_a.sql": sql}, nil, "NNNN_name"},
		{"not a number", fstest.MapFS{"abcd_a.sql": sql}, nil, "NNNN_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := parse(tt.files)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tt.want) || len(got) > 0 && got[len(got)-1] != tt.want[len(tt.want)-1] {
				t.Fatalf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

// testMigrations returns n migrations, each creating a table tN; the first
// sleeps a moment so that concurrent Applies overlap.
func testMigrations(n int) []Migration {
	ms, _ := parse(func() fstest.MapFS {
		fs := fstest.MapFS{}
		for i := 1; i <= n; i++ {
			sql := "CREATE TABLE t" + string(rune('0'+i)) + " (x int);"
			if i == 1 {
				sql = "SELECT pg_sleep(0.05);\n" + sql
			}
			fs["000"+string(rune('0'+i))+"_t"+string(rune('0'+i))+".sql"] = &fstest.MapFile{Data: []byte(sql)}
		}
		return fs
	}())
	return ms
}

func TestApplyFresh(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	v, err := Apply(t.Context(), conn, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if v != Latest() {
		t.Fatalf("version %d, want %d", v, Latest())
	}
	got := strings.Join(tables(t, conn, schema), " ")
	if want := "collabd_migrations documents kv room_leases updates versions"; got != want {
		t.Fatalf("tables %q, want %q", got, want)
	}
	ms, _ := All()
	rs := recorded(t, conn, schema)
	if len(rs) != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", len(rs), len(ms))
	}
	for i, r := range rs {
		if r.version != ms[i].Version || r.name != ms[i].Name || r.checksum != ms[i].Checksum || r.applied.IsZero() {
			t.Fatalf("recorded %+v for %+v", r, ms[i])
		}
	}
	// The connection's own search_path is left alone.
	var path string
	if err := conn.QueryRow(t.Context(), "SHOW search_path").Scan(&path); err != nil || strings.Contains(path, schema) {
		t.Fatalf("search_path after Apply = %q, %v", path, err)
	}
}

func TestApplyIdempotent(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	if _, err := Apply(t.Context(), conn, Options{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	before := recorded(t, conn, schema)
	for range 3 {
		v, err := Apply(t.Context(), conn, Options{Schema: schema})
		if err != nil || v != Latest() {
			t.Fatalf("Apply again = %d, %v; want %d, nil", v, err, Latest())
		}
	}
	after := recorded(t, conn, schema)
	if len(after) != len(before) || !after[0].applied.Equal(before[0].applied) {
		t.Fatalf("re-running Apply changed the record: %+v, before %+v", after, before)
	}
}

func TestApplyDefaultSchema(t *testing.T) {
	// Without Options.Schema, the tables go to the connection's schema.
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	scoped, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer scoped.Close(context.Background())
	if _, err := Apply(t.Context(), scoped, Options{}); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, conn, schema); len(got) != 6 { // collabd_migrations, documents, kv, room_leases, updates, versions
		t.Fatalf("tables in %s: %q", schema, got)
	}
}

func TestApplyConcurrent(t *testing.T) {
	// Several processes starting at once: each Apply on its own connection.
	url := pgtest.URL(t)
	for _, tc := range []struct {
		name string
		ms   []Migration // nil: collabd's
	}{
		{"collabd", nil},
		{"three slow ones", testMigrations(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := freshSchema(t, url)
			const n = 8
			conns := make([]*pgx.Conn, n)
			for i := range conns {
				conns[i] = connect(t, url)
			}
			versions := make([]int, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					versions[i], errs[i] = Apply(t.Context(), conns[i], Options{Schema: schema, migrations: tc.ms})
				})
			}
			close(start)
			wg.Wait()
			want := len(tc.ms)
			if tc.ms == nil {
				want = Latest()
			}
			for i := range n {
				if errs[i] != nil || versions[i] != want {
					t.Fatalf("Apply %d = %d, %v; want %d, nil", i, versions[i], errs[i], want)
				}
			}
			if rs := recorded(t, conns[0], schema); len(rs) != want {
				t.Fatalf("%d migrations recorded, want %d", len(rs), want)
			}
		})
	}
}

func TestApplyPending(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	ms := testMigrations(3)
	for _, n := range []int{1, 3} {
		v, err := Apply(t.Context(), conn, Options{Schema: schema, migrations: ms[:n]})
		if err != nil || v != n {
			t.Fatalf("Apply of %d migrations = %d, %v", n, v, err)
		}
	}
	if got := strings.Join(tables(t, conn, schema), " "); got != "collabd_migrations t1 t2 t3" {
		t.Fatalf("tables %q", got)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	ms := testMigrations(2)
	ms[1].SQL = "CREATE TABLE t2 (x int); SELECT no_such_function();"
	_, err := Apply(t.Context(), conn, Options{Schema: schema, migrations: ms})
	if err == nil || !strings.Contains(err.Error(), "0002_t2") {
		t.Fatalf("Apply with a failing migration: %v", err)
	}
	t.Logf("error: %v", err)
	// Nothing of it stayed, not even the migration that worked.
	if got := tables(t, conn, schema); len(got) != 0 {
		t.Fatalf("tables after a failed Apply: %q", got)
	}
	// And the connection is usable again.
	if v, err := Apply(t.Context(), conn, Options{Schema: schema, migrations: ms[:1]}); err != nil || v != 1 {
		t.Fatalf("Apply after the failure = %d, %v", v, err)
	}
}

func TestApplyNewerSchema(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	if _, err := Apply(t.Context(), conn, Options{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	newer := Latest() + 1
	if _, err := conn.Exec(t.Context(), "INSERT INTO "+pgx.Identifier{schema, Table}.Sanitize()+
		" (version, name, checksum) VALUES ($1, 'from_the_future', 'x')", newer); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(t.Context(), conn, Options{Schema: schema})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Apply to a newer schema: %v, want ErrNewerSchema", err)
	}
	t.Logf("error: %v", err)
	if rs := recorded(t, conn, schema); len(rs) != newer {
		t.Fatalf("%d migrations recorded after refusing, want %d", len(rs), newer)
	}
}

func TestApplyModified(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	ms := testMigrations(2)
	if _, err := Apply(t.Context(), conn, Options{Schema: schema, migrations: ms[:1]}); err != nil {
		t.Fatal(err)
	}
	ms[0].Checksum = strings.Repeat("0", 64)
	_, err := Apply(t.Context(), conn, Options{Schema: schema, migrations: ms})
	if !errors.Is(err, ErrModified) {
		t.Fatalf("Apply with a modified migration: %v, want ErrModified", err)
	}
	t.Logf("error: %v", err)
	if got := strings.Join(tables(t, conn, schema), " "); got != "collabd_migrations t1" {
		t.Fatalf("tables %q: the pending migration ran", got)
	}
}

func TestApplyCancelled(t *testing.T) {
	url := pgtest.URL(t)
	schema := freshSchema(t, url)
	conn := connect(t, url)
	// Another session holds the lock: Apply waits, and gives up with ctx.
	holder := connect(t, url)
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), "SELECT pg_advisory_xact_lock(hashtextextended('collabd/migrations/' || $1, 0))", schema); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := Apply(ctx, conn, Options{Schema: schema}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply while another session migrates: %v, want a deadline error", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	conn = connect(t, url) // pgx closes a connection whose query was cancelled
	if v, err := Apply(t.Context(), conn, Options{Schema: schema}); err != nil || v != Latest() {
		t.Fatalf("Apply once the lock is free = %d, %v", v, err)
	}
}
