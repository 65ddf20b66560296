// Package postgres is collabd's production document store: a docstore.Store
// in a PostgreSQL database (13 or newer; tested with 15), through a pgx/v5
// connection pool.
//
// # Schema
//
// Open applies the migrations of package migrations, so the tables exist
// once it returns (see migrations/0001_init.sql):
//
//	documents  one row per document: created, updated, last_seq (the seq
//	           counter), base_version/base_through/snapshot_size (the base
//	           snapshot), last_version, versions, log_entries, log_bytes
//	updates    (doc, seq) -> bytes: the log after the base snapshot
//	versions   (doc, id) -> created, trigger, through, size, snapshot
//
// The counters in documents are kept exact by every write, so operators can
// see what is stored with plain SQL, e.g.
//
//	SELECT name, updated, log_entries, log_bytes, versions, snapshot_size
//	FROM documents ORDER BY log_bytes DESC LIMIT 20;
//
// Names are text COLLATE "C": they compare and sort bytewise.
//
// # Appends and group commit
//
// Seqs come from documents.last_seq, incremented under the row's lock, so a
// document's seqs are consecutive and an Append racing a Compact of the same
// document waits for it (or the other way round). Append returns once its
// transaction has committed (with the server's synchronous_commit setting;
// the default waits for the WAL flush).
//
// Appends are not committed one by one. They are queued to one committer
// goroutine, which takes everything queued (up to Options.MaxBatch
// requests) and commits it as one transaction: one statement upserts the
// documents rows of every document in the batch and inserts every update,
// then COMMIT; two round trips and one WAL flush for the whole batch,
// however many documents it touches. A lone Append is committed at once;
// under load, Appends arriving during a commit form the next batch. See
// BenchmarkAppendParallel for the gain over one transaction per Append.
//
// # Failures
//
// Every error is an *Error naming the operation and the document. A
// connection that breaks before COMMIT is sent means nothing was committed,
// and the committer retries the batch on a fresh connection. If it breaks
// during COMMIT, the store asks the database (txid_status) whether the
// transaction committed, so that an Append that fails has stored nothing and
// one that succeeds has stored everything; only when the database stays
// unreachable does it return ErrCommitUnknown. Reads are retried once on a
// fresh connection. A database that is down gives ErrUnavailable quickly:
// connecting is bounded by Options.ConnectTimeout and Ping by
// Options.PingTimeout. Error.Retryable tells callers whether trying again
// later may help.
//
// # Concurrency
//
// A Store is safe for concurrent use. Several collabd processes may share
// one database (and schema): row locks serialize their writes to a
// document, and migrations take an advisory lock. Delete takes the
// documents row's lock too, so an Append or Compact of the document
// commits before it (and is deleted) or after it (and creates the document
// anew).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/collabd/collabd/docstore"
	"github.com/collabd/collabd/migrations"
)

// Defaults for the zero values of Options.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultPingTimeout    = 2 * time.Second
	DefaultCommitTimeout  = 30 * time.Second
	DefaultMaxBatch       = 1024
	DefaultMaxBatchBytes  = 16 << 20
)

// Options configure a Store. The zero value is the default; settings given
// here override the URL's.
type Options struct {
	// Retention limits every document's version history; the zero value
	// keeps every version.
	Retention docstore.Retention

	// Now returns the current time, for created/updated times and
	// retention. Default time.Now. Times are stored with microsecond
	// precision.
	Now func() time.Time

	// Schema is the PostgreSQL schema of collabd's tables, created if
	// needed. Empty means the connection's default (the URL's search_path,
	// normally "public").
	Schema string

	// MaxConns is the size of the connection pool. Zero means the URL's
	// pool_max_conns, or pgxpool's default (4 or the number of CPUs,
	// whichever is larger).
	MaxConns int32

	// ConnectTimeout bounds each attempt to connect. Zero means the URL's
	// connect_timeout, or DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// PingTimeout bounds Ping, so that a readiness check fails fast when
	// the database is down. Default DefaultPingTimeout.
	PingTimeout time.Duration

	// CommitTimeout bounds one group commit, including its retries and
	// finding out the outcome of a commit whose connection broke. Default
	// DefaultCommitTimeout. (An Append returns as soon as its own context
	// ends, whatever this says.)
	CommitTimeout time.Duration

	// MaxBatch is the most Appends committed in one transaction, and
	// MaxBatchBytes the most update bytes (a larger single Append is still
	// committed, alone). Defaults DefaultMaxBatch and DefaultMaxBatchBytes.
	MaxBatch      int
	MaxBatchBytes int

	// dial replaces the pool's dialer, for tests that break connections.
	dial pgconn.DialFunc
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = DefaultPingTimeout
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = DefaultCommitTimeout
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	return o
}

// Store is a docstore.Store in a PostgreSQL database. Create it with Open.
type Store struct {
	pool          *pgxpool.Pool
	opts          Options
	schemaVersion int

	// appends feeds the committer goroutine (commitLoop), which owns every
	// request it receives until it answers on the request's done channel.
	// Close closes appends; commitLoop then exits and closes committerDone.
	appends       chan *appendRequest
	committerDone chan struct{}

	// mu is held for reading by every operation while it runs and for
	// writing by Close, so Close waits for operations under way and no
	// operation starts after it.
	mu     sync.RWMutex
	closed bool // guarded by mu

	// solo makes every Append commit its own transaction instead of going
	// through the committer; tests and benchmarks set it right after Open
	// to compare.
	solo bool
	// commits counts the transactions of Appends, and resolved the commits
	// whose connection broke and whose outcome resolve found out, for tests
	// and benchmarks.
	commits, resolved atomic.Int64
}

var _ docstore.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string, as pgx accepts), applies pending migrations and
// returns the Store. ctx bounds the start-up: connecting and migrating. A
// database that cannot be reached gives an error wrapping ErrUnavailable;
// one with a newer schema, migrations.ErrNewerSchema.
//
// Pool settings (pool_max_conns, pool_max_conn_lifetime, …) may be given
// as URL parameters; Options override them.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &Error{Op: "open", Err: fmt.Errorf("database URL: %w", err)}
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout <= 0:
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.dial != nil {
		cfg.ConnConfig.DialFunc = opts.dial
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	op := fmt.Sprintf("open %s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, opError(ctx, op, "", err)
	}
	version, err := migrations.Apply(ctx, pool, migrations.Options{Schema: opts.Schema})
	if err != nil {
		pool.Close()
		return nil, opError(ctx, op, "", err)
	}
	s := &Store{
		pool:          pool,
		opts:          opts,
		schemaVersion: version,
		appends:       make(chan *appendRequest, opts.MaxBatch),
		committerDone: make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// SchemaVersion returns the version of the database schema (the newest
// migration applied).
func (s *Store) SchemaVersion() int { return s.schemaVersion }

// Pool returns the store's connection pool, for statistics (Pool().Stat())
// and operator tooling. Closing it is Close's business.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// enter starts an operation: it fails if ctx is done or the store closed,
// and otherwise holds s.mu for reading until the caller calls s.mu.RUnlock.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return docstore.ErrClosed
	}
	return nil
}

// now returns the current time as stored: microseconds.
func (s *Store) now() time.Time { return s.opts.Now().Truncate(time.Microsecond) }

// read runs fn, a read-only database operation, on a connection of the
// pool. If the connection breaks (say the server terminated it) and ctx is
// still alive, fn runs once more on a fresh connection.
func (s *Store) read(ctx context.Context, fn func(*pgx.Conn) error) error {
	for attempt := 1; ; attempt++ {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(c.Conn())
		broken := c.Conn().IsClosed()
		c.Release()
		if err == nil || !broken || attempt == 2 || ctx.Err() != nil {
			return err
		}
	}
}

// Load implements docstore.Store.
func (s *Store) Load(ctx context.Context, doc string) (*docstore.Stored, error) {
	st, err := s.load(ctx, doc)
	if err != nil {
		return nil, opError(ctx, "load", doc, err)
	}
	return st, nil
}

func (s *Store) load(ctx context.Context, doc string) (*docstore.Stored, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := docstore.CheckName(doc); err != nil {
		return nil, err
	}
	var st *docstore.Stored
	err := s.read(ctx, func(c *pgx.Conn) error {
		var err error
		st, err = loadTx(ctx, c, doc)
		return err
	})
	return st, err
}

// loadTx reads a document in one repeatable-read transaction, so that the
// base snapshot and the log entries are from the same moment.
func loadTx(ctx context.Context, c *pgx.Conn, doc string) (st *docstore.Stored, err error) {
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	var (
		snapshot                       []byte
		snapshotSize, entries, nbytes  int64
		lastSeq, baseVersion, baseThru int64
	)
	err = tx.QueryRow(ctx, `
		SELECT d.last_seq, d.base_version, d.base_through, d.snapshot_size, d.log_entries, d.log_bytes, v.snapshot
		FROM documents d LEFT JOIN versions v ON v.doc = d.name AND v.id = d.base_version
		WHERE d.name = $1`, doc).Scan(&lastSeq, &baseVersion, &baseThru, &snapshotSize, &entries, &nbytes, &snapshot)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, docstore.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st = &docstore.Stored{Version: baseVersion, Through: baseThru, LastSeq: lastSeq}
	if baseVersion != 0 {
		if snapshot == nil {
			return nil, fmt.Errorf("%w: snapshot of the base version %d missing", docstore.ErrCorrupt, baseVersion)
		}
		if int64(len(snapshot)) != snapshotSize {
			return nil, fmt.Errorf("%w: base snapshot of %d bytes, recorded %d", docstore.ErrCorrupt, len(snapshot), snapshotSize)
		}
		st.Snapshot = snapshot
	}
	if entries > 0 {
		// The entries share one allocation of the recorded size.
		st.Entries = make([]docstore.Entry, 0, entries)
		buf := make([]byte, 0, nbytes)
		rows, err := tx.Query(ctx, `SELECT seq, bytes FROM updates WHERE doc = $1 ORDER BY seq`, doc)
		if err != nil {
			return nil, err
		}
		var (
			seq  int64
			data pgtype.DriverBytes
		)
		want := baseThru + 1
		_, err = pgx.ForEachRow(rows, []any{&seq, &data}, func() error {
			if seq != want {
				return fmt.Errorf("%w: log entry %d where %d was expected", docstore.ErrCorrupt, seq, want)
			}
			want++
			if len(buf)+len(data) > cap(buf) {
				return fmt.Errorf("%w: log holds more than the %d bytes recorded", docstore.ErrCorrupt, nbytes)
			}
			start := len(buf)
			buf = append(buf, data...)
			st.Entries = append(st.Entries, docstore.Entry{Seq: seq, Update: buf[start:len(buf):len(buf)]})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if n := int64(len(st.Entries)); n != entries || n > 0 && st.Entries[n-1].Seq != lastSeq {
		return nil, fmt.Errorf("%w: log of %d entries up to seq %d; recorded %d up to %d",
			docstore.ErrCorrupt, n, baseThru+n, entries, lastSeq)
	}
	if entries == 0 && lastSeq != baseThru {
		return nil, fmt.Errorf("%w: no log entries after seq %d, last seq recorded %d", docstore.ErrCorrupt, baseThru, lastSeq)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// Versions implements docstore.Store.
func (s *Store) Versions(ctx context.Context, doc string) ([]docstore.Version, error) {
	vs, err := s.versions(ctx, doc)
	if err != nil {
		return nil, opError(ctx, "versions", doc, err)
	}
	return vs, nil
}

func (s *Store) versions(ctx context.Context, doc string) ([]docstore.Version, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := docstore.CheckName(doc); err != nil {
		return nil, err
	}
	var vs []docstore.Version
	err := s.read(ctx, func(c *pgx.Conn) error {
		var err error
		vs, err = listVersions(ctx, c, doc)
		return err
	})
	return vs, err
}

// querier is what the store's queries need: a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// listVersions returns doc's versions, newest first, or ErrNotFound.
func listVersions(ctx context.Context, q querier, doc string) ([]docstore.Version, error) {
	rows, err := q.Query(ctx, `
		SELECT v.id, v.created, v.trigger, v.through, v.size
		FROM documents d LEFT JOIN versions v ON v.doc = d.name
		WHERE d.name = $1
		ORDER BY v.id DESC NULLS LAST`, doc)
	if err != nil {
		return nil, err
	}
	found := false
	vs := []docstore.Version{}
	var (
		id, through, size *int64
		created           *time.Time
		trigger           *string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &created, &trigger, &through, &size}, func() error {
		found = true
		if id != nil {
			vs = append(vs, docstore.Version{ID: *id, Created: *created, Trigger: docstore.Trigger(*trigger), Through: *through, Size: int(*size)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, docstore.ErrNotFound
	}
	return vs, nil
}

// Version implements docstore.Store.
func (s *Store) Version(ctx context.Context, doc string, id int64) (docstore.Version, []byte, error) {
	v, snap, err := s.version(ctx, doc, id)
	if err != nil {
		return docstore.Version{}, nil, opError(ctx, "version", doc, fmt.Errorf("version %d: %w", id, err))
	}
	return v, snap, nil
}

func (s *Store) version(ctx context.Context, doc string, id int64) (docstore.Version, []byte, error) {
	if err := s.enter(ctx); err != nil {
		return docstore.Version{}, nil, err
	}
	defer s.mu.RUnlock()
	if err := docstore.CheckName(doc); err != nil {
		return docstore.Version{}, nil, err
	}
	var (
		v    docstore.Version
		snap []byte
	)
	err := s.read(ctx, func(c *pgx.Conn) error {
		var (
			vid, through, size *int64
			created            *time.Time
			trigger            *string
		)
		snap = nil
		err := c.QueryRow(ctx, `
			SELECT v.id, v.created, v.trigger, v.through, v.size, v.snapshot
			FROM documents d LEFT JOIN versions v ON v.doc = d.name AND v.id = $2
			WHERE d.name = $1`, doc, id).Scan(&vid, &created, &trigger, &through, &size, &snap)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return docstore.ErrNotFound
		case err != nil:
			return err
		case vid == nil:
			return docstore.ErrVersionNotFound
		case int64(len(snap)) != *size:
			return fmt.Errorf("%w: snapshot of %d bytes, recorded %d", docstore.ErrCorrupt, len(snap), *size)
		}
		v = docstore.Version{ID: *vid, Created: *created, Trigger: docstore.Trigger(*trigger), Through: *through, Size: int(*size)}
		return nil
	})
	return v, snap, err
}

const infoColumns = `name, created, updated, last_seq, base_version, snapshot_size, versions, log_entries, log_bytes`

func scanInfo(row pgx.CollectableRow) (docstore.DocumentInfo, error) {
	var (
		info          docstore.DocumentInfo
		size, entries int64
	)
	err := row.Scan(&info.Name, &info.Created, &info.Updated, &info.LastSeq, &info.Version,
		&size, &info.Versions, &entries, &info.LogBytes)
	info.SnapshotSize, info.LogEntries = int(size), int(entries)
	return info, err
}

// Info implements docstore.Store.
func (s *Store) Info(ctx context.Context, doc string) (docstore.DocumentInfo, error) {
	info, err := s.info(ctx, doc)
	if err != nil {
		return docstore.DocumentInfo{}, opError(ctx, "info", doc, err)
	}
	return info, nil
}

func (s *Store) info(ctx context.Context, doc string) (docstore.DocumentInfo, error) {
	if err := s.enter(ctx); err != nil {
		return docstore.DocumentInfo{}, err
	}
	defer s.mu.RUnlock()
	if err := docstore.CheckName(doc); err != nil {
		return docstore.DocumentInfo{}, err
	}
	var info docstore.DocumentInfo
	err := s.read(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+infoColumns+` FROM documents WHERE name = $1`, doc)
		if err != nil {
			return err
		}
		info, err = pgx.CollectExactlyOneRow(rows, scanInfo)
		if errors.Is(err, pgx.ErrNoRows) {
			return docstore.ErrNotFound
		}
		return err
	})
	return info, err
}

// Documents implements docstore.Store.
func (s *Store) Documents(ctx context.Context) ([]docstore.DocumentInfo, error) {
	infos, err := s.documents(ctx)
	if err != nil {
		return nil, opError(ctx, "documents", "", err)
	}
	return infos, nil
}

func (s *Store) documents(ctx context.Context) ([]docstore.DocumentInfo, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var infos []docstore.DocumentInfo
	err := s.read(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT `+infoColumns+` FROM documents ORDER BY name COLLATE "C"`)
		if err != nil {
			return err
		}
		infos, err = pgx.CollectRows(rows, scanInfo)
		return err
	})
	if err != nil {
		return nil, err
	}
	if infos == nil {
		infos = []docstore.DocumentInfo{}
	}
	return infos, nil
}

// List implements docstore.Store.
func (s *Store) List(ctx context.Context, after string, limit int) ([]docstore.DocumentInfo, error) {
	infos, err := s.list(ctx, after, limit)
	if err != nil {
		return nil, opError(ctx, "list", "", fmt.Errorf("after %q: %w", after, err))
	}
	return infos, nil
}

func (s *Store) list(ctx context.Context, after string, limit int) ([]docstore.DocumentInfo, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	limit, err := docstore.CheckList(after, limit)
	if err != nil {
		return nil, err
	}
	var infos []docstore.DocumentInfo
	err = s.read(ctx, func(c *pgx.Conn) error {
		// The primary key's index serves both the range and the order.
		rows, err := c.Query(ctx, `SELECT `+infoColumns+` FROM documents
			WHERE name > $1 COLLATE "C" ORDER BY name COLLATE "C" LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		infos, err = pgx.CollectRows(rows, scanInfo)
		return err
	})
	if err != nil {
		return nil, err
	}
	if infos == nil {
		infos = []docstore.DocumentInfo{}
	}
	return infos, nil
}

// Ping implements docstore.Store: it checks that a connection to the
// database works, within Options.PingTimeout (or ctx's deadline, if
// sooner), and fails once the store is closed. A database that is down
// gives an error wrapping ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return opError(ctx, "ping", "", err)
	}
	defer s.mu.RUnlock()
	pctx, cancel := context.WithTimeout(ctx, s.opts.PingTimeout)
	defer cancel()
	// Through read, so that a connection the server dropped since its last
	// use (the pool pings only connections idle for a second) does not fail
	// the check while the database is fine.
	if err := s.read(pctx, func(c *pgx.Conn) error { return c.Ping(pctx) }); err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			err = fmt.Errorf("%w: no answer within %v: %w", ErrUnavailable, s.opts.PingTimeout, err)
		}
		return opError(ctx, "ping", "", err)
	}
	return nil
}

// Close implements docstore.Store: it waits for operations under way
// (including queued Appends, which are committed), then closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// No operation is running and none can start: nobody sends any more.
	close(s.appends)
	<-s.committerDone
	s.pool.Close()
	return nil
}
