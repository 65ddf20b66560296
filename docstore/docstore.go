// Package docstore defines how collabd stores documents: the Store contract
// that every storage backend implements, the errors it reports and the
// retention policy for version history.
//
// # Model
//
// A document is identified by its room name (see CheckName). For each
// document a Store keeps
//
//   - an append-only update log: opaque byte slices (Yjs v1 updates), each
//     with a sequence number (seq) the store assigns. Seqs are positive,
//     strictly increasing within a document and never reused, not even after
//     compaction; they need not be contiguous.
//   - snapshots: a snapshot is the full state of the document covering every
//     log entry up to and including some seq. Compact stores a new snapshot
//     and removes the log entries it covers, in one transaction. Every
//     snapshot is a Version of the document's history, with a per-document
//     ID (positive, increasing, never reused). The newest version is the
//     document's base: Load returns it together with the log entries after
//     it.
//
// Delete removes a document with all of the above. A document written again
// after a Delete is a new document: its seqs and version IDs start again,
// as any new document's do, so seqs and IDs are unique within one lifetime
// of a document, not across a Delete.
//
// The store never interprets updates or snapshots; it only needs them to be
// non-empty (a Yjs update is at least two bytes), so an empty update or
// snapshot is refused with ErrEmpty.
//
// # Durability
//
// Append returns only once its updates are on stable storage (fsync or the
// database's commit), so an update that a room has relayed survives a
// crash. Concurrent Appends are committed together (group commit), which
// keeps the cost per update low when many rooms are busy. Compact is atomic:
// after a crash either the new snapshot is the base and the covered entries
// are gone, or nothing changed. So is Delete: after a crash the document is
// either gone entirely or untouched.
//
// # Concurrency
//
// Every method of a Store is safe for concurrent use by multiple
// goroutines, on the same or on different documents. An Append racing with a
// Compact of the same document never loses an entry: entries with a seq
// greater than the compaction's throughSeq survive it. An Append or Compact
// racing with a Delete of the same document happens either before it (and
// is deleted with the document) or after it (and starts the new document).
//
// # Backends
//
// docstore/embedded keeps everything in one local file and is the default;
// a Postgres backend serves production deployments. Both pass the
// conformance suite in docstore/storetest.
package docstore

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Errors reported by every Store. Backends wrap them with the operation and
// the document, so test them with errors.Is.
var (
	// ErrNotFound: the document has never been written, or has been
	// deleted (and not written again since).
	ErrNotFound = errors.New("docstore: document not found")
	// ErrVersionNotFound: the document exists but has no version with that
	// ID (never created, or removed by retention).
	ErrVersionNotFound = errors.New("docstore: version not found")
	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("docstore: store closed")
	// ErrInvalidName: the document name is not acceptable (see CheckName).
	ErrInvalidName = errors.New("docstore: invalid document name")
	// ErrEmpty: Append was called without updates or with an empty update,
	// or Compact with an empty snapshot.
	ErrEmpty = errors.New("docstore: empty update or snapshot")
	// ErrInvalidTrigger: Compact was called with a trigger that is not
	// valid (see Trigger.Valid).
	ErrInvalidTrigger = errors.New("docstore: invalid trigger")
	// ErrSeqRange: Compact was called with a throughSeq beyond the
	// document's last seq, or behind the seq its current base already
	// covers.
	ErrSeqRange = errors.New("docstore: seq out of range")
	// ErrCorrupt: stored data could not be decoded. The store refuses to
	// guess; the document's data is left as it is.
	ErrCorrupt = errors.New("docstore: stored data is corrupt")
)

// MaxNameLen is the maximum length of a document name in bytes.
const MaxNameLen = 512

// CheckName reports whether name can name a document: a non-empty string of
// valid UTF-8, at most MaxNameLen bytes, without NUL bytes (which Postgres
// text cannot hold). Every other character is allowed, including '/', '.',
// spaces and control characters: stores never use names as file names. The
// error wraps ErrInvalidName.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidName, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return fmt.Errorf("%w: contains a NUL byte", ErrInvalidName)
		}
	}
	return nil
}

// PrepareAppend checks an Append's arguments as every Store does (a valid
// name, at least one update, none empty) and returns a private copy of the
// updates in one allocation, which a store may commit after Append has
// returned (when the caller's context ends first), and their total size.
func PrepareAppend(doc string, updates [][]byte) (own [][]byte, size int, err error) {
	if err := CheckName(doc); err != nil {
		return nil, 0, err
	}
	if len(updates) == 0 {
		return nil, 0, fmt.Errorf("%w: no updates", ErrEmpty)
	}
	for i, u := range updates {
		if len(u) == 0 {
			return nil, 0, fmt.Errorf("%w: update %d is empty", ErrEmpty, i)
		}
		size += len(u)
	}
	buf := make([]byte, 0, size)
	own = make([][]byte, len(updates))
	for i, u := range updates {
		buf = append(buf, u...)
		own[i] = buf[len(buf)-len(u):]
	}
	return own, size, nil
}

// MaxList is the most documents one List returns.
const MaxList = 1000

// CheckList checks a List's arguments as every Store does (after is empty
// or a valid name) and returns the number of documents to list: limit, or
// MaxList if limit is not between 1 and MaxList.
func CheckList(after string, limit int) (int, error) {
	if after != "" {
		if err := CheckName(after); err != nil {
			return 0, fmt.Errorf("list after: %w", err)
		}
	}
	if limit <= 0 || limit > MaxList {
		limit = MaxList
	}
	return limit, nil
}

// CheckCompact checks a Compact's arguments as every Store does: a valid
// name, a non-empty snapshot, a valid trigger, a non-negative seq.
func CheckCompact(doc string, snapshot []byte, throughSeq int64, trigger Trigger) error {
	switch err := CheckName(doc); {
	case err != nil:
		return err
	case len(snapshot) == 0:
		return fmt.Errorf("%w: empty snapshot", ErrEmpty)
	case !trigger.Valid():
		return fmt.Errorf("%w: %q", ErrInvalidTrigger, trigger)
	case throughSeq < 0:
		return fmt.Errorf("%w: negative", ErrSeqRange)
	}
	return nil
}

// Trigger says why a snapshot was taken. The constants are the triggers
// collabd uses; other values are accepted if Valid.
type Trigger string

// Triggers of a compaction.
const (
	// TriggerHibernate: the room had no connections for the idle timeout.
	TriggerHibernate Trigger = "hibernate"
	// TriggerThreshold: the update log grew past the compaction threshold.
	TriggerThreshold Trigger = "threshold"
	// TriggerRestore: an old version was restored as a new forward change.
	TriggerRestore Trigger = "restore"
	// TriggerManual: an operator or API call asked for a snapshot.
	TriggerManual Trigger = "manual"
	// TriggerInterval: a live room's periodic version while it is edited.
	TriggerInterval Trigger = "interval"
)

// maxTriggerLen bounds a Trigger so that it fits any backend's record.
const maxTriggerLen = 32

// Valid reports whether t is 1 to 32 bytes of lower-case ASCII letters,
// digits, '-' and '_'.
func (t Trigger) Valid() bool {
	if len(t) == 0 || len(t) > maxTriggerLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Entry is one update of a document's log.
type Entry struct {
	Seq    int64
	Update []byte
}

// Stored is a document as Load returns it: the base snapshot, if any, and
// the log entries after it. Applying Snapshot and then every entry in order
// reproduces the document.
type Stored struct {
	// Snapshot is the newest version's snapshot, nil if the document has
	// never been compacted.
	Snapshot []byte
	// Version is the ID of the version Snapshot belongs to, 0 if none.
	Version int64
	// Through is the seq that Snapshot covers (entries up to and including
	// it are folded into the snapshot), 0 if none.
	Through int64
	// Entries are the log entries with seq > Through, oldest first.
	Entries []Entry
	// LastSeq is the seq of the document's newest update, in the log or in
	// the snapshot. A compaction of everything loaded passes it as
	// throughSeq.
	LastSeq int64
}

// Version describes one snapshot in a document's history. Versions are
// immutable: once created, a version's metadata and snapshot never change;
// retention may remove it.
type Version struct {
	// ID identifies the version within its document; IDs increase with
	// every compaction and are never reused.
	ID int64
	// Created is when the snapshot was stored, with microsecond precision.
	Created time.Time
	// Size is the length of the snapshot in bytes.
	Size int
	// Trigger says why the snapshot was taken.
	Trigger Trigger
	// Through is the last log seq the snapshot covers.
	Through int64
}

// DocumentInfo describes a stored document.
type DocumentInfo struct {
	Name string
	// Created is when the document was first written; Updated is when it
	// was last appended to or compacted. Microsecond precision.
	Created, Updated time.Time
	// LastSeq is the seq of the newest update (see Stored.LastSeq).
	LastSeq int64
	// Version is the ID of the base (newest) version, 0 if none;
	// SnapshotSize is the size of its snapshot in bytes.
	Version      int64
	SnapshotSize int
	// Versions is the number of versions stored.
	Versions int
	// LogEntries and LogBytes count the updates after the base snapshot and
	// their total size.
	LogEntries int
	LogBytes   int64
}

// AsyncAppender is implemented by stores that can take an Append without a
// goroutine of the caller's waiting for it. A room appends continually and
// has nothing to do while its append is under way but to wait for the
// answer; with Append that wait takes a goroutine, and handing the answer
// from the store's goroutine to it and from it to the room costs two
// goroutine wakeups per commit, which on a busy server is a large share of
// the CPU an update costs.
type AsyncAppender interface {
	// AppendAsync is Append without a context, answered through done: the
	// same validation, atomicity and durability, and the same seq and
	// error that Append would return. done is called exactly once,
	// possibly before AppendAsync returns (an invalid argument, a closed
	// store), otherwise on a goroutine of the store's; it must return
	// quickly and must not call the store. AppendAsync does not keep
	// references to updates after it returns.
	AppendAsync(doc string, updates [][]byte, done func(seq int64, err error))
}

// Store stores documents. All methods are safe for concurrent use. Every
// method taking a context returns an error wrapping ctx.Err() if the context
// is done before the operation starts; how far an operation already under
// way honours cancellation depends on the backend (see Append).
type Store interface {
	// Load returns the document's base snapshot (if any) and every log
	// entry after it, in seq order. It returns ErrNotFound for a document
	// never written. The returned slices belong to the caller.
	Load(ctx context.Context, doc string) (*Stored, error)

	// Append appends updates to the document's log, in order, creating the
	// document if needed, and returns the seq assigned to the last of them.
	// It returns once the updates are on stable storage. The updates of one
	// call are stored atomically (all or none) with consecutive seqs;
	// concurrent calls share one durable write. Append does not keep
	// references to updates after it returns.
	//
	// If ctx is done before the write is committed, Append returns an error
	// wrapping ctx.Err(); the updates are then either all stored or none
	// (the backend may not be able to tell which).
	//
	// Append with no updates or an empty update returns ErrEmpty and
	// stores nothing.
	Append(ctx context.Context, doc string, updates ...[]byte) (seq int64, err error)

	// Compact stores snapshot as the document's new base, covering every
	// log entry up to and including throughSeq, removes those entries,
	// records the snapshot as a new version with the given trigger, applies
	// the store's Retention to the document's versions and returns the new
	// version. All of that is one atomic transaction. Entries with a seq
	// greater than throughSeq, including ones appended concurrently, are
	// kept.
	//
	// throughSeq must lie between the seq the current base covers and the
	// document's last seq (Stored.Through <= throughSeq <= Stored.LastSeq),
	// otherwise Compact returns ErrSeqRange. A document never written can
	// be created by a Compact with throughSeq 0.
	Compact(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger Trigger) (Version, error)

	// Versions lists the document's versions, newest first. A document
	// that was written but never compacted has none (an empty slice). It
	// returns ErrNotFound for a document never written.
	Versions(ctx context.Context, doc string) ([]Version, error)

	// Version returns one version and its snapshot. It returns ErrNotFound
	// for an unknown document and ErrVersionNotFound for an unknown
	// version.
	Version(ctx context.Context, doc string, id int64) (Version, []byte, error)

	// Info describes one document; ErrNotFound for a document never
	// written.
	Info(ctx context.Context, doc string) (DocumentInfo, error)

	// Documents describes every stored document, ordered by name
	// (bytewise). List does the same a page at a time.
	Documents(ctx context.Context) ([]DocumentInfo, error)

	// List describes the stored documents whose names sort after after
	// (bytewise; "" lists from the first), in name order, at most limit of
	// them; a limit below 1 or above MaxList means MaxList. To page through
	// every document, pass the last name of one page as after of the next
	// call; an empty page is past the end. Each page is read at one moment:
	// a document created or deleted between two calls may or may not
	// appear. after must be "" or a valid name (ErrInvalidName otherwise).
	// The result is never nil.
	List(ctx context.Context, after string, limit int) ([]DocumentInfo, error)

	// Delete removes the document: its log, its snapshots and versions
	// and its metadata, in one atomic transaction (after a crash either
	// all of it is gone or nothing changed). Afterwards Load, Versions,
	// Version and Info return ErrNotFound, and Documents and List leave
	// it out. Delete of a document never written, or already deleted,
	// returns ErrNotFound.
	//
	// A later Append, or Compact with throughSeq 0, creates the document
	// anew: its seqs start again from the beginning (Stored.LastSeq is 0
	// before its first Append), and so do its version IDs. Appends and
	// Compacts racing the Delete happen before it or after it (see the
	// package comment). An Append that has returned happens before a
	// Delete called after that; an AppendAsync, once its done has been
	// called. Since seqs start again, a caller must not Compact a snapshot
	// it built from what it loaded before the Delete (a room must be
	// closed before its document is deleted): the store cannot tell it
	// from a snapshot of the new document.
	//
	// If ctx is done before the deletion is committed, Delete returns an
	// error wrapping ctx.Err(); the document is then either deleted or
	// untouched.
	Delete(ctx context.Context, doc string) error

	// Ping reports whether the store can serve requests.
	Ping(ctx context.Context) error

	// Close waits for operations under way, then releases the store's
	// resources. Afterwards every method returns ErrClosed; Close itself
	// returns nil again.
	Close() error
}

// Retention limits how many versions a document keeps. A Store applies it
// whenever it compacts the document, inside the same transaction. A version
// is removed if it is beyond KeepLast or older than MaxAge; the newest
// version (the document's base) is never removed. The zero Retention keeps
// every version.
type Retention struct {
	// KeepLast, if positive, keeps at most this many versions.
	KeepLast int
	// MaxAge, if positive, removes versions created more than MaxAge ago.
	MaxAge time.Duration
}

// Expired returns the IDs of the versions that r removes at time now.
// versions must be ordered newest first, as Store.Versions returns them;
// the first one is never expired.
func (r Retention) Expired(versions []Version, now time.Time) []int64 {
	var ids []int64
	for i, v := range versions {
		if i == 0 {
			continue
		}
		if r.KeepLast > 0 && i >= r.KeepLast || r.MaxAge > 0 && now.Sub(v.Created) > r.MaxAge {
			ids = append(ids, v.ID)
		}
	}
	return ids
}
