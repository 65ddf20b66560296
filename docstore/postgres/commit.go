package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/collabd/collabd/docstore"
)

// attempts is how often the store tries a write whose transaction certainly
// did not commit because the connection broke or the server asked to retry
// (serialization failure, deadlock). Between attempts it waits
// attempt*retryDelay.
const (
	attempts   = 3
	retryDelay = 20 * time.Millisecond
)

// appendSQL appends a batch of updates to one or more documents in one
// statement. $1..$3 list the batch's documents (sorted bytewise, so that
// concurrent batches lock rows in the same order), how many updates each
// gets and their total size; $4 is the time; $5..$7 list the updates: the
// 1-based index of the document in $1, the update's position among that
// document's updates in this batch (1..n) and its bytes. Each documents row
// is created or locked and its seq counter advanced by n; its updates get
// the seqs last_seq-n+1 .. last_seq. It returns each document's new
// last_seq and the transaction's ID.
const appendSQL = `
WITH batch AS (
	SELECT b.i, b.name COLLATE "C" AS name, b.n, b.size
	FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS b(name, n, size, i)
), docs AS (
	INSERT INTO documents AS d (name, created, updated, last_seq, log_entries, log_bytes)
	SELECT name, $4, $4, n, n, size FROM batch ORDER BY name
	ON CONFLICT (name) DO UPDATE SET
		updated     = excluded.updated,
		last_seq    = d.last_seq + excluded.last_seq,
		log_entries = d.log_entries + excluded.log_entries,
		log_bytes   = d.log_bytes + excluded.log_bytes
	RETURNING d.name, d.last_seq
), ins AS (
	INSERT INTO updates (doc, seq, created, bytes)
	SELECT b.name, docs.last_seq - b.n + u.k, $4, u.bytes
	FROM unnest($5::int[], $6::bigint[], $7::bytea[]) AS u(i, k, bytes)
	JOIN batch b ON b.i = u.i
	JOIN docs ON docs.name = b.name
)
SELECT name, last_seq, txid_current() FROM docs`

// appendRequest is one Append waiting for the committer.
type appendRequest struct {
	ctx     context.Context // the caller's; a request whose ctx is done is not committed
	doc     string
	updates [][]byte          // a private copy
	size    int               // total bytes of updates
	done    chan appendResult // buffered: the committer never blocks on it
}

type appendResult struct {
	seq int64
	err error
}

// Append implements docstore.Store. See the package comment for how
// concurrent Appends are committed together.
func (s *Store) Append(ctx context.Context, doc string, updates ...[]byte) (int64, error) {
	seq, err := s.append(ctx, doc, updates)
	if err != nil {
		return 0, opError(ctx, "append", doc, err)
	}
	return seq, nil
}

func (s *Store) append(ctx context.Context, doc string, updates [][]byte) (int64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	own, size, err := docstore.PrepareAppend(doc, updates)
	if err != nil {
		return 0, err
	}
	req := &appendRequest{ctx: ctx, doc: doc, updates: own, size: size, done: make(chan appendResult, 1)}

	if s.solo {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CommitTimeout)
		defer cancel()
		s.commitRequests(cctx, []*appendRequest{req}, false)
		res := <-req.done
		return res.seq, res.err
	}

	select {
	case s.appends <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-req.done:
		return res.seq, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("gave up waiting for the commit, which may or may not happen: %w", ctx.Err())
	}
}

// commitLoop is the committer goroutine: it commits queued Appends in
// batches until Close closes s.appends.
func (s *Store) commitLoop() {
	defer close(s.committerDone)
	batch := make([]*appendRequest, 0, s.opts.MaxBatch)
	var next *appendRequest // taken from the queue but left for the next batch
	for {
		if next == nil {
			req, ok := <-s.appends
			if !ok {
				return
			}
			next = req
		}
		batch = append(batch, next)
		size := next.size
		next = nil
	collect:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r, ok := <-s.appends:
				if !ok {
					break collect
				}
				if size+r.size > s.opts.MaxBatchBytes {
					next = r
					break collect
				}
				batch = append(batch, r)
				size += r.size
			default:
				break collect
			}
		}
		s.commitBatch(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// commitBatch commits reqs and answers each. The commit's context ends
// after Options.CommitTimeout, or as soon as every request's caller has
// given up.
func (s *Store) commitBatch(reqs []*appendRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommitTimeout)
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(reqs)))
	for _, r := range reqs {
		stop := context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	s.commitRequests(ctx, reqs, true)
}

// commitRequests commits reqs in one transaction, retrying when that
// certainly failed for a passing reason, and answers each request. If the
// transaction fails for another reason and split is set, each request is
// committed alone, so that one bad request does not fail the others.
func (s *Store) commitRequests(ctx context.Context, reqs []*appendRequest, split bool) {
	answer := func(reqs []*appendRequest, err error) {
		for _, r := range reqs {
			r.done <- appendResult{err: err}
		}
	}
	for attempt := 1; ; attempt++ {
		live := make([]*appendRequest, 0, len(reqs))
		for _, r := range reqs {
			if err := r.ctx.Err(); err != nil {
				r.done <- appendResult{err: err}
				continue
			}
			live = append(live, r)
		}
		reqs = live
		if len(reqs) == 0 {
			return
		}
		seqs, retry, err := s.commitOnce(ctx, reqs)
		if err == nil {
			for i, r := range reqs {
				r.done <- appendResult{seq: seqs[i]}
			}
			return
		}
		if retry && attempt < attempts && ctx.Err() == nil {
			if sleep(ctx, time.Duration(attempt)*retryDelay) == nil {
				continue
			}
		}
		if split && len(reqs) > 1 && !retry && !errors.Is(err, ErrCommitUnknown) && ctx.Err() == nil {
			for _, r := range reqs {
				s.commitRequests(ctx, []*appendRequest{r}, false)
			}
			return
		}
		if ctx.Err() != nil && !errors.Is(err, ErrCommitUnknown) {
			err = fmt.Errorf("%w: commit did not finish within %v: %w", ErrUnavailable, s.opts.CommitTimeout, err)
		}
		answer(reqs, err)
		return
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitOnce commits reqs in one transaction and returns the last seq of
// each. On failure, retry reports that certainly nothing was committed and
// that trying again may work; an error wrapping ErrCommitUnknown means the
// store could not find out whether the transaction committed.
func (s *Store) commitOnce(ctx context.Context, reqs []*appendRequest) (seqs []int64, retry bool, err error) {
	s.commits.Add(1)
	now := s.now()

	// The batch's documents, sorted, and each request's document and last
	// position among that document's updates.
	names := make([]string, 0, len(reqs))
	for _, r := range reqs {
		names = append(names, r.doc)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	counts := make([]int64, len(names))
	sizes := make([]int64, len(names))
	reqDoc := make([]int, len(reqs))
	reqLast := make([]int64, len(reqs))
	var nupdates int
	for _, r := range reqs {
		nupdates += len(r.updates)
	}
	uDoc := make([]int32, 0, nupdates)
	uPos := make([]int64, 0, nupdates)
	uBytes := make([][]byte, 0, nupdates)
	for i, r := range reqs {
		d, _ := slices.BinarySearch(names, r.doc)
		for _, u := range r.updates {
			counts[d]++
			sizes[d] += int64(len(u))
			uDoc = append(uDoc, int32(d+1))
			uPos = append(uPos, counts[d])
			uBytes = append(uBytes, u)
		}
		reqDoc[i], reqLast[i] = d, counts[d]
	}

	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, true, err
	}
	defer pc.Release()
	conn := pc.Conn()

	// One round trip: BEGIN and the statement. COMMIT follows only once
	// the statement's result (with the transaction's ID) is in.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(appendSQL, names, counts, sizes, now, uDoc, uPos, uBytes)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	lastSeqs := make([]int64, len(names))
	var xid int64
	if err == nil {
		var rows pgx.Rows
		rows, err = br.Query()
		if err == nil {
			var (
				name string
				last int64
				seen int
			)
			_, err = pgx.ForEachRow(rows, []any{&name, &last, &xid}, func() error {
				d, ok := slices.BinarySearch(names, name)
				if !ok {
					return fmt.Errorf("postgres: append returned document %q, which it was not given", name)
				}
				lastSeqs[d] = last
				seen++
				return nil
			})
			if err == nil && seen != len(names) {
				err = fmt.Errorf("postgres: append returned %d documents for %d", seen, len(names))
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// COMMIT was never sent: nothing is committed.
		s.rollback(ctx, conn)
		return nil, conn.IsClosed() || transient(err), err
	}

	seqs = make([]int64, len(reqs))
	for i := range reqs {
		d := reqDoc[i]
		seqs[i] = lastSeqs[d] - counts[d] + reqLast[i]
	}
	pid := conn.PgConn().PID()
	_, err = conn.Exec(ctx, "COMMIT")
	if err == nil {
		return seqs, false, nil
	}
	retry, err = s.commitFailed(ctx, err, xid, pid)
	if err != nil {
		return nil, retry, err
	}
	return seqs, false, nil
}

// rollback ends a failed transaction on conn, if the connection still
// works, so that the pool can reuse it.
func (s *Store) rollback(ctx context.Context, conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_, _ = conn.Exec(rctx, "ROLLBACK")
}

// transient reports whether err is one that the server asks to retry the
// transaction for.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// commitFailed finds out what a COMMIT that returned err did. It returns
// nil if the transaction committed after all; otherwise an error, with
// retry reporting that certainly nothing was committed and trying again may
// work, or an error wrapping ErrCommitUnknown. xid is the transaction's ID
// (txid_current) and pid the backend that ran it.
func (s *Store) commitFailed(ctx context.Context, err error, xid int64, pid uint32) (retry bool, _ error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Severity == "ERROR" {
		// The server answered: the transaction was rolled back.
		return transient(err), err
	}
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		return false, err
	}
	// The connection broke, or ctx ended, with COMMIT on its way. Ask the
	// database, unless nobody waits for the answer any more.
	if ctx.Err() != nil {
		return false, fmt.Errorf("%w: %w", ErrCommitUnknown, err)
	}
	committed, rerr := s.resolve(ctx, xid, pid)
	switch {
	case rerr != nil:
		return false, fmt.Errorf("%w: %w (asking the database: %w)", ErrCommitUnknown, err, rerr)
	case committed:
		return false, nil
	}
	return true, err
}

// resolve reports whether transaction xid committed. If it is still in
// progress (the backend that ran it has not noticed its client is gone), it
// terminates that backend, if it still holds the transaction, so that the
// outcome is final. While the database is out of reach (down,
// restarting) it keeps asking, backing off, until ctx ends: giving up early
// would make the caller retry a batch that may have committed.
func (s *Store) resolve(ctx context.Context, xid int64, pid uint32) (committed bool, err error) {
	broken := 0
	for i := 0; ; i++ {
		var status *string
		err := s.read(ctx, func(c *pgx.Conn) error {
			if i > 1 { // give a COMMIT under way a moment before ending it
				if _, err := c.Exec(ctx, `
					SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					WHERE pid = $1 AND backend_xid::text::bigint = $2 % 4294967296`, int64(pid), xid); err != nil {
					return err
				}
			}
			return c.QueryRow(ctx, "SELECT txid_status($1)", xid).Scan(&status)
		})
		switch {
		case err != nil && unavailable(ctx, err) && ctx.Err() == nil:
			broken++
			if err := sleep(ctx, min(time.Duration(broken)*20*time.Millisecond, 500*time.Millisecond)); err != nil {
				return false, err
			}
			continue
		case err != nil:
			return false, err
		case status == nil:
			return false, fmt.Errorf("transaction %d is too old for txid_status", xid)
		case *status == "committed":
			s.resolved.Add(1)
			return true, nil
		case *status == "aborted":
			s.resolved.Add(1)
			return false, nil
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return false, err
		}
	}
}

// Compact implements docstore.Store.
func (s *Store) Compact(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger) (docstore.Version, error) {
	v, err := s.compact(ctx, doc, snapshot, throughSeq, trigger)
	if err != nil {
		return docstore.Version{}, opError(ctx, "compact", doc, fmt.Errorf("through seq %d: %w", throughSeq, err))
	}
	return v, nil
}

func (s *Store) compact(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger) (docstore.Version, error) {
	if err := s.enter(ctx); err != nil {
		return docstore.Version{}, err
	}
	defer s.mu.RUnlock()
	if err := docstore.CheckCompact(doc, snapshot, throughSeq, trigger); err != nil {
		return docstore.Version{}, err
	}
	for attempt := 1; ; attempt++ {
		v, retry, err := s.compactOnce(ctx, doc, snapshot, throughSeq, trigger)
		if err == nil || !retry || attempt == attempts || ctx.Err() != nil {
			return v, err
		}
		if err := sleep(ctx, time.Duration(attempt)*retryDelay); err != nil {
			return docstore.Version{}, err
		}
	}
}

// docRow is the part of a documents row that Compact reads.
type docRow struct {
	lastSeq, baseThrough, lastVersion int64
	versions                          int
}

// compactOnce runs Compact's transaction; retry reports (on failure) that
// certainly nothing was committed and trying again may work.
func (s *Store) compactOnce(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger) (_ docstore.Version, retry bool, err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return docstore.Version{}, true, err
	}
	defer pc.Release()
	conn := pc.Conn()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return docstore.Version{}, conn.IsClosed(), err
	}
	var xid int64
	v, err := s.compactTx(ctx, tx, doc, snapshot, throughSeq, trigger, &xid)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return docstore.Version{}, conn.IsClosed() || transient(err), err
	}
	pid := conn.PgConn().PID()
	if err := tx.Commit(ctx); err != nil {
		if retry, err := s.commitFailed(ctx, err, xid, pid); err != nil {
			return docstore.Version{}, retry, err
		}
	}
	return v, false, nil
}

func (s *Store) compactTx(ctx context.Context, tx pgx.Tx, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger, xid *int64) (docstore.Version, error) {
	now := s.now()
	lock := func() (docRow, error) {
		var d docRow
		err := tx.QueryRow(ctx, `
			SELECT last_seq, base_through, last_version, versions, txid_current()
			FROM documents WHERE name = $1 FOR UPDATE`, doc).
			Scan(&d.lastSeq, &d.baseThrough, &d.lastVersion, &d.versions, xid)
		return d, err
	}
	d, err := lock()
	if errors.Is(err, pgx.ErrNoRows) {
		if throughSeq != 0 {
			return docstore.Version{}, fmt.Errorf("%w: document never written", docstore.ErrSeqRange)
		}
		// Create it (unless a concurrent Append or Compact just did).
		if _, err := tx.Exec(ctx, `
			INSERT INTO documents (name, created, updated) VALUES ($1, $2, $2)
			ON CONFLICT (name) DO NOTHING`, doc, now); err != nil {
			return docstore.Version{}, err
		}
		d, err = lock()
	}
	switch {
	case err != nil:
		return docstore.Version{}, err
	case throughSeq > d.lastSeq:
		return docstore.Version{}, fmt.Errorf("%w: beyond the last seq %d", docstore.ErrSeqRange, d.lastSeq)
	case throughSeq < d.baseThrough:
		return docstore.Version{}, fmt.Errorf("%w: behind the current snapshot, which covers seq %d", docstore.ErrSeqRange, d.baseThrough)
	}

	id := d.lastVersion + 1
	v := docstore.Version{ID: id, Created: now, Size: len(snapshot), Trigger: trigger, Through: throughSeq}
	var expired []int64
	if s.opts.Retention != (docstore.Retention{}) {
		all, err := listVersions(ctx, tx, doc)
		if err != nil {
			return docstore.Version{}, err
		}
		expired = s.opts.Retention.Expired(append([]docstore.Version{v}, all...), now)
	}

	// The writes, in one round trip: fold the covered entries into the
	// new version, drop expired versions, update the counters.
	b := &pgx.Batch{}
	var folded int64
	b.Queue(`
		WITH del AS (
			DELETE FROM updates WHERE doc = $1 AND seq <= $2 RETURNING octet_length(bytes) AS size
		), folded AS (
			SELECT count(*) AS entries, coalesce(sum(size), 0) AS bytes FROM del
		)
		UPDATE documents SET
			updated = $3, base_version = $4, last_version = $4, base_through = $2, snapshot_size = $5,
			versions = $6, log_entries = log_entries - folded.entries, log_bytes = log_bytes - folded.bytes
		FROM folded WHERE name = $1
		RETURNING folded.entries`,
		doc, throughSeq, now, id, int64(len(snapshot)), d.versions+1-len(expired)).
		QueryRow(func(row pgx.Row) error { return row.Scan(&folded) })
	b.Queue(`
		INSERT INTO versions (doc, id, created, trigger, through, size, snapshot)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, doc, id, now, string(trigger), throughSeq, int64(len(snapshot)), snapshot)
	if len(expired) > 0 {
		b.Queue(`DELETE FROM versions WHERE doc = $1 AND id = ANY($2)`, doc, expired).
			Exec(func(ct pgconn.CommandTag) error {
				if n := ct.RowsAffected(); n != int64(len(expired)) {
					return fmt.Errorf("%w: removed %d expired versions of %d", docstore.ErrCorrupt, n, len(expired))
				}
				return nil
			})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return docstore.Version{}, err
	}
	// Seqs are consecutive: the log holds exactly baseThrough+1 .. lastSeq.
	if want := throughSeq - d.baseThrough; folded != want {
		return docstore.Version{}, fmt.Errorf("%w: %d log entries up to seq %d, want %d", docstore.ErrCorrupt, folded, throughSeq, want)
	}
	return v, nil
}

// Delete implements docstore.Store: one transaction locks the document's
// row (so that it waits for an Append or Compact of the document under way,
// and they wait for it), then deletes its updates, its versions and the
// row. An Append waiting for the lock creates the document anew once the
// Delete has committed (its upsert finds no row then), with last_seq
// starting from 0 again.
func (s *Store) Delete(ctx context.Context, doc string) error {
	if err := s.delete(ctx, doc); err != nil {
		return opError(ctx, "delete", doc, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, doc string) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := docstore.CheckName(doc); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		retry, err := s.deleteOnce(ctx, doc)
		if err == nil || !retry || attempt == attempts || ctx.Err() != nil {
			return err
		}
		if err := sleep(ctx, time.Duration(attempt)*retryDelay); err != nil {
			return err
		}
	}
}

// deleteOnce runs Delete's transaction; retry reports (on failure) that
// certainly nothing was committed and trying again may work.
func (s *Store) deleteOnce(ctx context.Context, doc string) (retry bool, err error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return true, err
	}
	defer pc.Release()
	conn := pc.Conn()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return conn.IsClosed(), err
	}
	xid, err := deleteTx(ctx, tx, doc)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return conn.IsClosed() || transient(err), err
	}
	pid := conn.PgConn().PID()
	if err := tx.Commit(ctx); err != nil {
		// A retry after a commit that did happen would find nothing to
		// delete; commitFailed asks the database what became of it.
		if retry, err := s.commitFailed(ctx, err, xid, pid); err != nil {
			return retry, err
		}
	}
	return false, nil
}

// deleteTx deletes doc in tx and returns the transaction's ID.
func deleteTx(ctx context.Context, tx pgx.Tx, doc string) (xid int64, err error) {
	// The row lock first: in READ COMMITTED, each statement after it sees
	// every update committed by the Appends that held the lock before.
	err = tx.QueryRow(ctx, `SELECT txid_current() FROM documents WHERE name = $1 FOR UPDATE`, doc).Scan(&xid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, docstore.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	// (The schema's trigger and cascade would remove updates and versions
	// with the row; deleting them explicitly does not rely on that.)
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM updates WHERE doc = $1`, doc)
	b.Queue(`DELETE FROM versions WHERE doc = $1`, doc)
	b.Queue(`DELETE FROM documents WHERE name = $1`, doc).Exec(func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() != 1 {
			return fmt.Errorf("%w: deleted %d documents rows, want 1", docstore.ErrCorrupt, ct.RowsAffected())
		}
		return nil
	})
	return xid, tx.SendBatch(ctx, b).Close()
}
