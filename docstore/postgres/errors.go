package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/collabd/collabd/docstore"
)

// Errors of this backend, besides docstore's. Test them with errors.Is.
var (
	// ErrUnavailable: the database could not be reached, the connection to
	// it was lost, or it is starting up or shutting down. Such an error is
	// Retryable.
	ErrUnavailable = errors.New("postgres: database unavailable")
	// ErrCommitUnknown: the connection was lost while committing and the
	// store could not find out whether the commit happened (the database
	// stayed unreachable). The operation's changes are either all stored
	// or none. Such an error is Retryable; retrying an Append may then
	// store its updates twice, which Yjs updates tolerate (applying an
	// update again changes nothing).
	ErrCommitUnknown = errors.New("postgres: commit outcome unknown")
)

// Error is the error of every failed Store operation. It names the
// operation and the document, wraps the cause (a docstore sentinel such as
// docstore.ErrNotFound, ErrUnavailable, ErrCommitUnknown, a context error,
// a *pgconn.PgError) and says whether trying again later may succeed.
type Error struct {
	// Op is the operation: "append", "load", "compact", "versions",
	// "version", "info", "documents", "ping", or "open HOST:PORT/DATABASE".
	Op string
	// Doc is the document, empty for operations on the whole store.
	Doc string
	// Err is the cause.
	Err error

	retryable bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("postgres: ")
	b.WriteString(e.Op)
	if e.Doc != "" {
		b.WriteString(" ")
		b.WriteString(strconv.Quote(e.Doc))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the operation failed for a passing reason, so
// that the same call may succeed later: the database was unavailable
// (ErrUnavailable), a commit's outcome is unknown (ErrCommitUnknown), or
// the database refused for the moment (serialization failure, deadlock,
// too many connections, out of resources, a statement timeout). It is
// false for the caller's mistakes (docstore.ErrInvalidName, ErrSeqRange,
// …), a closed store, the caller's own context ending, and stored data that
// is corrupt.
//
// Callers that cannot import this package can ask any error with
//
//	var r interface{ Retryable() bool }
//	if errors.As(err, &r) && r.Retryable() { … }
func (e *Error) Retryable() bool { return e.retryable }

// IsRetryable reports whether err, or an error it wraps, is an *Error that
// is Retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.retryable
}

// opError wraps err, the failure of operation op on doc, in an *Error,
// classifying it. ctx is the caller's context: a deadline or cancellation
// is the caller's own only if ctx is done.
func opError(ctx context.Context, op, doc string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Op == op {
		return err // already classified
	}
	err, retryable := classify(ctx, err)
	return &Error{Op: op, Doc: doc, Err: err, retryable: retryable}
}

// classify maps err to what callers test for and says whether it is worth
// retrying.
func classify(ctx context.Context, err error) (error, bool) {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, ErrCommitUnknown), errors.Is(err, ErrUnavailable):
		return err, true
	case isDocstoreErr(err):
		return err, false
	case ctx.Err() != nil:
		// The caller gave up (pgx reports that in several ways: a context
		// error, a closed connection, a cancelled statement); make sure
		// errors.Is(err, ctx.Err()) holds.
		if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return err, false
	case errors.As(err, &pgErr):
		return classifyPg(pgErr, err)
	case connectionLost(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err), true
	}
	return err, false
}

// unavailable reports whether err means that the database could not be
// reached or the connection broke (and ctx, the caller's, is alive).
func unavailable(ctx context.Context, err error) bool {
	err, _ = classify(ctx, err)
	return errors.Is(err, ErrUnavailable)
}

// connectionLost reports whether err says that connecting failed (refused,
// timed out, DNS, TLS; authentication failures are PgErrors) or that the
// connection broke or timed out.
func connectionLost(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) ||
		// An internal deadline (the caller's context is alive): the
		// commit's, Ping's.
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func isDocstoreErr(err error) bool {
	for _, e := range []error{docstore.ErrNotFound, docstore.ErrVersionNotFound, docstore.ErrClosed,
		docstore.ErrInvalidName, docstore.ErrEmpty, docstore.ErrInvalidTrigger, docstore.ErrSeqRange,
		docstore.ErrCorrupt, docstore.ErrKeyNotFound, docstore.ErrInvalidKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// classifyPg classifies an error the server reported.
func classifyPg(pgErr *pgconn.PgError, err error) (error, bool) {
	code := pgErr.Code
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		code == "57P01", // admin_shutdown (terminated)
		code == "57P02", // crash_shutdown
		code == "57P03", // cannot_connect_now (starting up, recovering)
		code == "53300": // too_many_connections
		return fmt.Errorf("%w: %w", ErrUnavailable, err), true
	case code == "40001", // serialization_failure
		code == "40P01",               // deadlock_detected
		code == "55P03",               // lock_not_available
		code == "57014",               // query_canceled (statement_timeout)
		strings.HasPrefix(code, "53"): // insufficient resources (disk full, out of memory)
		return err, true
	case code == "23505", code == "23503", code == "23514":
		// unique, foreign key or check violation: the store keeps these
		// invariants itself, so the stored data contradicts them.
		return fmt.Errorf("%w: %w", docstore.ErrCorrupt, err), false
	case code == "22021": // invalid byte sequence (a name CheckName lets through)
		return fmt.Errorf("%w: %w", docstore.ErrInvalidName, err), false
	case code == "3F000", code == "42P01": // schema or table missing
		return fmt.Errorf("postgres: the collabd tables are missing (dropped after start-up?): %w", err), false
	}
	return err, false
}
