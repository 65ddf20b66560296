// Package embedded is collabd's default document store: a docstore.Store in
// one local file, with no server to set up. It is built on bbolt
// (go.etcd.io/bbolt), a pure-Go, transactional B+tree in a single
// memory-mapped file whose commits are crash-safe (copy-on-write pages, two
// fsyncs per commit), plus a write-ahead log next to it (the file's path
// with "-wal" appended) that makes Appends cheap.
//
// # Durability: the log and folding
//
// A bbolt commit costs two fsyncs and rewrites the B+tree pages on the
// path to every key it touches, which makes it too slow and too costly to
// sit under every relayed edit. So Appends do not touch bbolt: they are
// queued to a single committer goroutine which, whenever it is idle, takes
// everything queued, encodes it as one log record per Append (see wal.go),
// writes the records with one write and makes them durable with one
// fdatasync; only then are the Appends answered. A lone Append is
// committed at once (there is no batching delay); under load one fdatasync
// serves many Appends, of all documents.
//
// The committer assigns seqs itself, from a cache of each document's last
// seq (loaded from bbolt when an Append first touches the document), so an
// Append needs no bbolt write. It folds the log's records into bbolt in
// one ordinary, synced bbolt transaction, many at a time: when the log
// reaches Options.LogSize, when records have waited Options.FoldInterval,
// before every other operation that reads or writes bbolt (Load, Compact,
// Versions, Version, Info, Documents, List; a read of one document folds
// that document's records only) and at Close. The folds of the first
// two kinds run on a goroutine of their own while the committer goes on
// logging Appends (a fold's commit takes milliseconds to tens of them; an
// edit should not wait for it); the others wait for the fold under way and
// fold the rest at once. Once the log reaches LogSize and a fold is done,
// it is replaced by a fresh file holding only the records bbolt does not
// have yet ("-wal.tmp" written, preallocated to LogSize so that appends
// do not grow it, synced, renamed over the old one, directory synced);
// Close removes it,
// so a closed store's bbolt file alone holds everything. The log belongs
// to its bbolt file: its header carries the file's store ID, and Open
// refuses a log written for another file (ErrLogMismatch). A copy of the
// same file (a backup) has the same ID; replaying its own later log into
// it is right where the seqs follow on, and refused where they do not.
//
// Deletes: the committer deletes a document itself, between two log
// writes, so that every Append of it is logged either before the Delete or
// after it (and then starts the new document at seq 1). Since a replay
// folds every record of the log that bbolt lacks, the log must not hold
// records of a document bbolt no longer has: if it holds any, the Delete
// folds them and replaces the log by a fresh one without them before the
// bbolt transaction that removes the document's bucket (see deleteDoc).
//
// Crashes: Open replays the log. Records whose seqs bbolt already has are
// skipped (a crash between a fold's commit and the log's replacement
// leaves them), the rest are folded in one transaction, and the log is
// replaced, which drops the torn tail a crash during a write leaves. A bad
// record followed by a valid one of a later write cannot come from a crash:
// Open then fails with docstore.ErrCorrupt and leaves both files alone
// (see scanLog). A document whose fold fails (a damaged bucket) is marked
// broken: its records stay in the log, it takes no more Appends and its
// reads fail, while the other documents carry on.
//
// If a write or fdatasync of the log fails, the store stops taking
// Appends (the file's state is unknown); reads and compactions go on, and
// Close folds what was acknowledged. So does a fold whose commit finds the
// bbolt file corrupt, and then nothing more is folded; the log keeps the
// updates. Ping reports both. Reopening the store recovers from the first.
//
// # File layout
//
// The bbolt file holds two top-level buckets: "meta", with the format
// version of the file and its store ID (which the log's header repeats, so
// that a log is only ever replayed into its own file), and "docs", with
// one bucket per document keyed by the document's name (any bytes: names
// are never used as file names). A document's bucket holds
//
//	info       the document's metadata record (see docRecord)
//	log/       seq (8 bytes, big-endian) -> update
//	versions/  version ID (8 bytes, big-endian) -> version record
//	snapshots/ version ID -> snapshot
//
// Seqs within a document are contiguous: the log bucket always holds
// exactly the seqs after the base snapshot's up to the last folded one.
// Opening a file written with a newer format returns ErrNewerFormat.
//
// # Concurrency
//
// A Store is safe for concurrent use. The committer goroutine owns the log
// file, the seq cache and the records not yet folded (logState); it and
// the one fold goroutine it may have running (which gets its records and
// touches nothing else of logState) are the only writers of document logs
// in bbolt. Other operations ask it to fold
// (foldFor) and wait, unless nothing is pending, then run their own bbolt
// transactions: reads concurrently with each other and with writes,
// Compacts serialized with the committer's folds by bbolt. A Compact never
// changes a document's last seq, so the committer's cache stays right, and
// the entries it keeps (seq > throughSeq) include those logged while it
// ran, which a later fold appends. Only one process can open a file at a
// time (bbolt takes an exclusive file lock, and the log is only touched by
// its holder); a second Open fails after Options.LockTimeout with
// ErrLocked.
package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/collabd/collabd/docstore"
)

// Errors of Open.
var (
	// ErrLocked: another process (or another Store in this process) has
	// the file open.
	ErrLocked = errors.New("embedded: database file is locked (data directory in use by another collabd?)")
	// ErrNewerFormat: the file was written by a newer collabd whose format
	// this one does not know.
	ErrNewerFormat = errors.New("embedded: database file has a newer format")
	// ErrNotStore: the file is a valid bbolt file but not a collabd store.
	ErrNotStore = errors.New("embedded: not a collabd database file")
)

// formatVersion is the version of the file layout this code writes and
// reads. Bump it for any incompatible change of the layout or records.
//
// Format 2 adds the store ID (meta "id", 16 random bytes) that binds the
// write-ahead log to its file (see appendLogHeader). Code that knows
// format 1 only may not open it: it would not replay a log written for
// format 2. Format 1 files are upgraded on Open (see openLog).
const formatVersion = 2

var (
	bucketMeta      = []byte("meta")
	bucketDocs      = []byte("docs")
	bucketLog       = []byte("log")
	bucketVersions  = []byte("versions")
	bucketSnapshots = []byte("snapshots")
	keyFormat       = []byte("format")
	keyStoreID      = []byte("id")
	keyInfo         = []byte("info")
)

// Options configure a Store. The zero value is the default.
type Options struct {
	// Retention limits every document's version history; the zero value
	// keeps every version.
	Retention docstore.Retention

	// Now returns the current time, for created/updated times and
	// retention. Default time.Now.
	Now func() time.Time

	// LockTimeout is how long Open waits for another process to release
	// the file. Zero means 1 s; a negative value means one attempt only.
	// Open never waits indefinitely.
	LockTimeout time.Duration

	// MaxBatch is the largest number of Appends committed in one write
	// to the log. Default 1024.
	MaxBatch int

	// LogSize is the size of the write-ahead log at which it is folded
	// into the database file and replaced by an empty one. It bounds the
	// memory the unfolded records take and the work of a replay. Default
	// 8 MiB.
	LogSize int64

	// FoldInterval is how long records may wait in the log before they
	// are folded into the database file. Default 10 s: folds are cheaper
	// per record the more they take, and each one's page writes and
	// fsyncs compete with the log's fdatasyncs for the disk (with 100 busy
	// rooms, 1 s made fan-out p99 3.7 ms against 2.4 ms, and cost 10% more
	// CPU).
	FoldInterval time.Duration

	// StallTimeout is how long a write + fdatasync of the log may take
	// before Ping reports the store as stalled (a hung disk). Default 30 s.
	StallTimeout time.Duration

	// hook, if set (by tests), is called by the committer at the points
	// named in its calls to Store.event.
	hook func(event string)
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.LockTimeout == 0:
		o.LockTimeout = time.Second
	case o.LockTimeout < 0:
		o.LockTimeout = time.Nanosecond // bbolt: try once, then time out
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.LogSize <= 0 {
		o.LogSize = 8 << 20
	}
	if o.FoldInterval <= 0 {
		o.FoldInterval = 10 * time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 30 * time.Second
	}
	return o
}

// Store is a docstore.Store in one bbolt file and its log. Create it with
// Open.
type Store struct {
	db      *bolt.DB
	path    string
	walPath string
	opts    Options
	id      storeID // the file's store ID, which its log carries

	// appends and folds feed the committer goroutine (commitLoop), which
	// owns every request it receives until it answers on the request's
	// done channel. Close closes appends; commitLoop then folds, sets
	// closeErr and exits, closing committerDone.
	appends       chan *appendRequest
	folds         chan *foldRequest
	deletes       chan *deleteRequest
	committerDone chan struct{}
	closeErr      error

	log logState // owned by the committer goroutine

	// unfolded counts acknowledged records that bbolt does not have yet.
	// The committer adds to it before answering the Appends and
	// subtracts once they are folded, so a reader that sees 0 needs no
	// fold.
	unfolded atomic.Int64
	// failed is set, once, when the log can no longer be written.
	failed atomic.Pointer[error]
	// writing is when the log write under way started (nanoseconds since
	// epoch, on the monotonic clock, plus 1), 0 when none is: Ping
	// reports a write or fdatasync that has not returned for
	// StallTimeout, since a room waiting for its AppendAsync has no
	// timeout of its own.
	writing atomic.Int64
	epoch   time.Time
	// rotateErr is why the log could not be replaced by a fresh one last
	// time it was due, nil if it was.
	rotateErr atomic.Pointer[error]

	// mu is held for reading by every operation while it runs and for
	// writing by Close, so Close waits for operations under way and no
	// operation starts after it.
	mu     sync.RWMutex
	closed bool // guarded by mu

	// commits counts the log writes, for tests and benchmarks.
	commits atomic.Int64
}

var _ docstore.Store = (*Store)(nil)

// Open opens the store in the file at path, creating the file and its
// parent directories if needed. The file is locked against other
// processes until Close.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	db, err := openBolt(path, opts.LockTimeout)
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	s := &Store{
		db:            db,
		path:          path,
		walPath:       path + "-wal",
		opts:          opts,
		epoch:         time.Now(),
		appends:       make(chan *appendRequest, opts.MaxBatch),
		folds:         make(chan *foldRequest),
		deletes:       make(chan *deleteRequest),
		committerDone: make(chan struct{}),
	}
	legacy, err := s.checkFormat()
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	if err := s.openLog(legacy); err != nil {
		if s.log.file != nil {
			_ = s.log.file.Close()
		}
		_ = db.Close()
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	go s.commitLoop()
	return s, nil
}

// openBolt opens the bbolt file, translating its errors and panics.
func openBolt(path string, lockTimeout time.Duration) (db *bolt.DB, err error) {
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		// bbolt can panic on some corrupt files; the file must not stay
		// locked then. (Its memory mapping, if any, leaks.)
		if p := recover(); p != nil {
			if file != nil {
				unlockFile(file)
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("%w: %v", docstore.ErrCorrupt, p)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      lockTimeout,
		FreelistType: bolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w (waited %v)", ErrLocked, lockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, fmt.Errorf("%w: not a valid database file: %w", docstore.ErrCorrupt, err)
	default:
		return nil, err
	}
}

// checkFormat checks the file's format version and reads its store ID,
// and initializes a new file. A format 1 file is left as it is (legacy):
// openLog replays its log, which has no header, before upgradeFormat.
func (s *Store) checkFormat() (legacy bool, err error) {
	var format uint32
	initialized := false
	err = s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		initialized = true
		format, err = checkMeta(tx, meta, &s.id)
		return err
	})
	if err != nil || initialized {
		return format == 1, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			format, err = checkMeta(tx, meta, &s.id)
			return err
		}
		if k, _ := tx.Cursor().First(); k != nil {
			return fmt.Errorf("%w: unexpected bucket %q", ErrNotStore, k)
		}
		if _, err := tx.CreateBucket(bucketMeta); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketDocs); err != nil {
			return err
		}
		if _, err := rand.Read(s.id[:]); err != nil {
			return err
		}
		return s.setFormatLocked(tx)
	})
	return format == 1, err
}

// upgradeFormat upgrades a format 1 file to the current format with store
// ID s.id, which its log already carries (see openLog).
func (s *Store) upgradeFormat() error {
	return s.update(s.setFormatLocked)
}

// setFormatLocked gives the file in tx store ID s.id and the current
// format.
func (s *Store) setFormatLocked(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyStoreID, s.id[:]); err != nil {
		return err
	}
	return meta.Put(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
}

// checkMeta checks the meta bucket and returns the file's format; from
// format 2 on it reads the store ID into id.
func checkMeta(tx *bolt.Tx, meta *bolt.Bucket, id *storeID) (uint32, error) {
	if meta == nil {
		return 0, fmt.Errorf("%w: no meta bucket", docstore.ErrCorrupt)
	}
	v := meta.Get(keyFormat)
	if v == nil {
		return 0, fmt.Errorf("%w: no format version", ErrNotStore)
	}
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: format version of %d bytes", docstore.ErrCorrupt, len(v))
	}
	f := binary.BigEndian.Uint32(v)
	switch {
	case f > formatVersion:
		return 0, fmt.Errorf("%w: format %d, this collabd knows up to %d: upgrade collabd", ErrNewerFormat, f, formatVersion)
	case f == 0:
		return 0, fmt.Errorf("%w: format version 0", docstore.ErrCorrupt)
	}
	if tx.Bucket(bucketDocs) == nil {
		return 0, fmt.Errorf("%w: no documents bucket", docstore.ErrCorrupt)
	}
	if f >= 2 {
		v := meta.Get(keyStoreID)
		if len(v) != len(id) {
			return 0, fmt.Errorf("%w: store ID of %d bytes", docstore.ErrCorrupt, len(v))
		}
		copy(id[:], v)
	}
	return f, nil
}

// Path returns the path of the store's file.
func (s *Store) Path() string { return s.path }

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

// view and update run bbolt transactions, turning a panic of bbolt
// (which it does on some corrupt pages) or a memory fault (a corrupt page
// can make it read outside the mapped file) into an error wrapping
// docstore.ErrCorrupt. bbolt rolls the transaction back as the panic
// unwinds.
func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err, debug.SetPanicOnFault(true))
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err, debug.SetPanicOnFault(true))
	return s.db.Update(fn)
}

func recoverCorrupt(err *error, panicOnFault bool) {
	debug.SetPanicOnFault(panicOnFault)
	if p := recover(); p != nil {
		*err = fmt.Errorf("%w: %v", docstore.ErrCorrupt, p)
	}
}

// now returns the current time in Unix microseconds (never negative).
func (s *Store) now() int64 { return max(micros(s.opts.Now()), 0) }

// Load implements docstore.Store.
func (s *Store) Load(ctx context.Context, doc string) (*docstore.Stored, error) {
	st, err := s.load(ctx, doc)
	if err != nil {
		return nil, fmt.Errorf("embedded: load %q: %w", doc, err)
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
	if err := s.foldFor(ctx, doc); err != nil {
		return nil, err
	}
	var st *docstore.Stored
	err := s.view(func(tx *bolt.Tx) error {
		b, rec, err := docBucket(tx, doc)
		if err != nil {
			return err
		}
		st = &docstore.Stored{Version: rec.baseVersion, Through: rec.baseThrough, LastSeq: rec.lastSeq}
		if rec.baseVersion != 0 {
			snap, err := snapshot(b, rec.baseVersion)
			if err != nil {
				return err
			}
			if int64(len(snap)) != rec.snapshotSize {
				return fmt.Errorf("%w: base snapshot of %d bytes, recorded %d", docstore.ErrCorrupt, len(snap), rec.snapshotSize)
			}
			st.Snapshot = bytes.Clone(snap)
		}
		log := b.Bucket(bucketLog)
		// Two passes: count first, so that the entries share one allocation
		// of exactly the stored size.
		var n, size int
		c := log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			size += len(v)
		}
		if int64(n) != rec.logEntries || int64(size) != rec.logBytes {
			return fmt.Errorf("%w: log of %d entries, %d bytes; recorded %d, %d",
				docstore.ErrCorrupt, n, size, rec.logEntries, rec.logBytes)
		}
		if n == 0 {
			return nil
		}
		st.Entries = make([]docstore.Entry, 0, n)
		buf := make([]byte, 0, size)
		want := rec.baseThrough + 1
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, err := decodeKey(k)
			if err != nil {
				return err
			}
			if seq != want {
				return fmt.Errorf("%w: log entry %d where %d was expected", docstore.ErrCorrupt, seq, want)
			}
			want++
			start := len(buf)
			buf = append(buf, v...)
			st.Entries = append(st.Entries, docstore.Entry{Seq: seq, Update: buf[start:len(buf):len(buf)]})
		}
		return nil
	})
	return st, err
}

// docBucket returns the bucket of doc and its metadata record, or
// ErrNotFound.
func docBucket(tx *bolt.Tx, doc string) (*bolt.Bucket, docRecord, error) {
	b := tx.Bucket(bucketDocs).Bucket([]byte(doc))
	if b == nil {
		return nil, docRecord{}, docstore.ErrNotFound
	}
	rec, err := readDocRecord(b)
	return b, rec, err
}

// readDocRecord reads a document's record and checks that its sub-buckets
// exist, so that callers can use them without nil checks.
func readDocRecord(b *bolt.Bucket) (docRecord, error) {
	v := b.Get(keyInfo)
	if v == nil {
		return docRecord{}, fmt.Errorf("%w: document without a record", docstore.ErrCorrupt)
	}
	rec, err := decodeDocRecord(v)
	if err != nil {
		return docRecord{}, err
	}
	for _, name := range [][]byte{bucketLog, bucketVersions, bucketSnapshots} {
		if b.Bucket(name) == nil {
			return docRecord{}, fmt.Errorf("%w: document without a %s bucket", docstore.ErrCorrupt, name)
		}
	}
	return rec, nil
}

// createDoc creates the bucket of a new document.
func createDoc(docs *bolt.Bucket, doc string) (*bolt.Bucket, error) {
	b, err := docs.CreateBucket([]byte(doc))
	if err != nil {
		return nil, err
	}
	for _, name := range [][]byte{bucketLog, bucketVersions, bucketSnapshots} {
		if _, err := b.CreateBucket(name); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// snapshot returns the snapshot of version id, valid during the transaction.
func snapshot(b *bolt.Bucket, id int64) ([]byte, error) {
	snap := b.Bucket(bucketSnapshots).Get(key(id))
	if len(snap) == 0 {
		return nil, fmt.Errorf("%w: snapshot of version %d missing", docstore.ErrCorrupt, id)
	}
	return snap, nil
}

// Append implements docstore.Store. See the package comment for how
// concurrent Appends are committed together.
func (s *Store) Append(ctx context.Context, doc string, updates ...[]byte) (int64, error) {
	seq, err := s.append(ctx, doc, updates)
	if err != nil {
		return 0, appendError(doc, err)
	}
	return seq, nil
}

// appendError is the error of an Append or AppendAsync of doc.
func appendError(doc string, err error) error {
	return fmt.Errorf("embedded: append %q: %w", doc, err)
}

func (s *Store) append(ctx context.Context, doc string, updates [][]byte) (int64, error) {
	if err := s.enter(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	own, _, err := docstore.PrepareAppend(doc, updates)
	if err != nil {
		return 0, err
	}
	req := &appendRequest{ctx: ctx, doc: doc, updates: own, done: make(chan appendResult, 1)}
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

// AppendAsync implements docstore.AsyncAppender: the request goes to the
// committer like an Append's, and the committer answers it by calling
// done itself.
func (s *Store) AppendAsync(doc string, updates [][]byte, done func(seq int64, err error)) {
	if err := s.enter(context.Background()); err != nil {
		done(0, appendError(doc, err))
		return
	}
	// The read lock is held until the request is queued: Close takes the
	// write lock before it closes s.appends, and the committer answers
	// every request queued before that.
	own, _, err := docstore.PrepareAppend(doc, updates)
	if err != nil {
		s.mu.RUnlock()
		done(0, appendError(doc, err))
		return
	}
	req := &appendRequest{ctx: context.Background(), doc: doc, updates: own, answer: done}
	select {
	case s.appends <- req:
		s.mu.RUnlock()
	default:
		// The queue is full: the committer is stuck in a slow write.
		// The caller (a room, which goes on serving presence and joins
		// meanwhile) must not wait for it, so a goroutine queues the
		// request, holding the read lock for it until then.
		go func() {
			s.appends <- req
			s.mu.RUnlock()
		}()
	}
}

// Compact implements docstore.Store.
func (s *Store) Compact(ctx context.Context, doc string, snapshot []byte, throughSeq int64, trigger docstore.Trigger) (docstore.Version, error) {
	v, err := s.compact(ctx, doc, snapshot, throughSeq, trigger)
	if err != nil {
		return docstore.Version{}, fmt.Errorf("embedded: compact %q through seq %d: %w", doc, throughSeq, err)
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
	// Every update acknowledged before Compact was called is folded;
	// those logged from now on have seqs beyond the last seq bbolt
	// holds, hence beyond any valid throughSeq, and are folded after
	// the compaction.
	if err := s.foldFor(ctx, doc); err != nil {
		return docstore.Version{}, err
	}
	var version docstore.Version
	err := s.update(func(tx *bolt.Tx) error {
		now := s.now()
		docs := tx.Bucket(bucketDocs)
		b, rec, err := docBucket(tx, doc)
		switch {
		case errors.Is(err, docstore.ErrNotFound):
			if throughSeq != 0 {
				return fmt.Errorf("%w: document never written", docstore.ErrSeqRange)
			}
			if b, err = createDoc(docs, doc); err != nil {
				return err
			}
			rec = docRecord{created: now}
		case err != nil:
			return err
		case throughSeq > rec.lastSeq:
			return fmt.Errorf("%w: beyond the last seq %d", docstore.ErrSeqRange, rec.lastSeq)
		case throughSeq < rec.baseThrough:
			return fmt.Errorf("%w: behind the current snapshot, which covers seq %d", docstore.ErrSeqRange, rec.baseThrough)
		}

		// Fold the covered entries: the log holds exactly the seqs
		// baseThrough+1 .. lastSeq.
		log := b.Bucket(bucketLog)
		for seq := rec.baseThrough + 1; seq <= throughSeq; seq++ {
			k := key(seq)
			v := log.Get(k)
			if v == nil {
				return fmt.Errorf("%w: log entry %d missing", docstore.ErrCorrupt, seq)
			}
			rec.logEntries--
			rec.logBytes -= int64(len(v))
			if err := log.Delete(k); err != nil {
				return err
			}
		}

		rec.lastVersion++
		id := rec.lastVersion
		vr := versionRecord{created: now, size: int64(len(snapshot)), through: throughSeq, trigger: trigger}
		versions, snapshots := b.Bucket(bucketVersions), b.Bucket(bucketSnapshots)
		versions.FillPercent, snapshots.FillPercent = 0.95, 0.95
		if err := versions.Put(key(id), vr.encode()); err != nil {
			return err
		}
		if err := snapshots.Put(key(id), snapshot); err != nil {
			return err
		}
		rec.versions++
		rec.baseVersion, rec.baseThrough, rec.snapshotSize = id, throughSeq, int64(len(snapshot))
		rec.updated = now
		version = vr.version(id)

		if s.opts.Retention != (docstore.Retention{}) {
			all, err := listVersions(b)
			if err != nil {
				return err
			}
			for _, id := range s.opts.Retention.Expired(all, fromMicros(now)) {
				if id == rec.baseVersion { // Expired never returns the newest; be sure
					continue
				}
				if err := versions.Delete(key(id)); err != nil {
					return err
				}
				if err := snapshots.Delete(key(id)); err != nil {
					return err
				}
				rec.versions--
			}
		}
		return b.Put(keyInfo, rec.encode())
	})
	return version, err
}

// listVersions returns the versions of a document's bucket, newest first.
func listVersions(b *bolt.Bucket) ([]docstore.Version, error) {
	var vs []docstore.Version
	c := b.Bucket(bucketVersions).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		id, err := decodeKey(k)
		if err != nil {
			return nil, err
		}
		vr, err := decodeVersionRecord(v)
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", id, err)
		}
		vs = append(vs, vr.version(id))
	}
	return vs, nil
}

// Versions implements docstore.Store.
func (s *Store) Versions(ctx context.Context, doc string) ([]docstore.Version, error) {
	vs, err := s.versions(ctx, doc)
	if err != nil {
		return nil, fmt.Errorf("embedded: versions of %q: %w", doc, err)
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
	if err := s.foldFor(ctx, doc); err != nil {
		return nil, err
	}
	var vs []docstore.Version
	err := s.view(func(tx *bolt.Tx) error {
		b, rec, err := docBucket(tx, doc)
		if err != nil {
			return err
		}
		if vs, err = listVersions(b); err != nil {
			return err
		}
		if int64(len(vs)) != rec.versions {
			return fmt.Errorf("%w: %d versions, recorded %d", docstore.ErrCorrupt, len(vs), rec.versions)
		}
		return nil
	})
	if vs == nil && err == nil {
		vs = []docstore.Version{}
	}
	return vs, err
}

// Version implements docstore.Store.
func (s *Store) Version(ctx context.Context, doc string, id int64) (docstore.Version, []byte, error) {
	v, snap, err := s.version(ctx, doc, id)
	if err != nil {
		return docstore.Version{}, nil, fmt.Errorf("embedded: version %d of %q: %w", id, doc, err)
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
	if err := s.foldFor(ctx, doc); err != nil {
		return docstore.Version{}, nil, err
	}
	var (
		v    docstore.Version
		snap []byte
	)
	err := s.view(func(tx *bolt.Tx) error {
		b, _, err := docBucket(tx, doc)
		if err != nil {
			return err
		}
		if id <= 0 {
			return docstore.ErrVersionNotFound
		}
		raw := b.Bucket(bucketVersions).Get(key(id))
		if raw == nil {
			return docstore.ErrVersionNotFound
		}
		vr, err := decodeVersionRecord(raw)
		if err != nil {
			return err
		}
		data, err := snapshot(b, id)
		if err != nil {
			return err
		}
		if int64(len(data)) != vr.size {
			return fmt.Errorf("%w: snapshot of %d bytes, recorded %d", docstore.ErrCorrupt, len(data), vr.size)
		}
		v, snap = vr.version(id), bytes.Clone(data)
		return nil
	})
	return v, snap, err
}

// Info implements docstore.Store.
func (s *Store) Info(ctx context.Context, doc string) (docstore.DocumentInfo, error) {
	info, err := s.info(ctx, doc)
	if err != nil {
		return docstore.DocumentInfo{}, fmt.Errorf("embedded: info of %q: %w", doc, err)
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
	if err := s.foldFor(ctx, doc); err != nil {
		return docstore.DocumentInfo{}, err
	}
	var info docstore.DocumentInfo
	err := s.view(func(tx *bolt.Tx) error {
		_, rec, err := docBucket(tx, doc)
		info = rec.info(doc)
		return err
	})
	return info, err
}

func (r *docRecord) info(name string) docstore.DocumentInfo {
	return docstore.DocumentInfo{
		Name:         name,
		Created:      fromMicros(r.created),
		Updated:      fromMicros(r.updated),
		LastSeq:      r.lastSeq,
		Version:      r.baseVersion,
		SnapshotSize: int(r.snapshotSize),
		Versions:     int(r.versions),
		LogEntries:   int(r.logEntries),
		LogBytes:     r.logBytes,
	}
}

// Documents implements docstore.Store.
func (s *Store) Documents(ctx context.Context) ([]docstore.DocumentInfo, error) {
	infos, err := s.documents(ctx)
	if err != nil {
		return nil, fmt.Errorf("embedded: documents: %w", err)
	}
	return infos, nil
}

func (s *Store) documents(ctx context.Context) ([]docstore.DocumentInfo, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := s.foldFor(ctx, ""); err != nil {
		return nil, err
	}
	return s.listDocs("", -1)
}

// listDocs describes the documents after after, at most limit of them
// (all if limit < 0), in one read transaction.
func (s *Store) listDocs(after string, limit int) ([]docstore.DocumentInfo, error) {
	infos := []docstore.DocumentInfo{}
	err := s.view(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		c := docs.Cursor()
		k, v := c.First()
		if after != "" {
			if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && limit != 0; k, v = c.Next() {
			if v != nil {
				return fmt.Errorf("%w: value %q among the documents", docstore.ErrCorrupt, k)
			}
			rec, err := readDocRecord(docs.Bucket(k))
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			infos = append(infos, rec.info(string(k)))
			limit--
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return infos, nil
}

// List implements docstore.Store. Like Documents, it first folds every
// document's pending records, so that the sizes it reports are current.
func (s *Store) List(ctx context.Context, after string, limit int) ([]docstore.DocumentInfo, error) {
	infos, err := s.list(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("embedded: list after %q: %w", after, err)
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
	if err := s.foldFor(ctx, ""); err != nil {
		return nil, err
	}
	return s.listDocs(after, limit)
}

// Delete implements docstore.Store. The committer deletes the document,
// between two of its log writes (see deleteDoc): that orders the Delete
// with the document's Appends and keeps its seq cache right. Appends of
// every document wait meanwhile: a bbolt commit, and a fold of the
// document's pending records and a log replacement if the log holds any
// of its records (milliseconds; deleting is an operator's action, not a
// room's).
func (s *Store) Delete(ctx context.Context, doc string) error {
	if err := s.delete(ctx, doc); err != nil {
		return fmt.Errorf("embedded: delete %q: %w", doc, err)
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
	req := &deleteRequest{ctx: ctx, doc: doc, done: make(chan error, 1)}
	select {
	case s.deletes <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting for the deletion, which may or may not happen: %w", ctx.Err())
	}
}

// Ping implements docstore.Store: it fails once the store is closed or
// when the file cannot be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return fmt.Errorf("embedded: ping: %w", err)
	}
	defer s.mu.RUnlock()
	if err := s.logFailure(); err != nil {
		return fmt.Errorf("embedded: ping: %w", err)
	}
	if p := s.rotateErr.Load(); p != nil {
		return fmt.Errorf("embedded: ping: %w", *p)
	}
	if w := s.writing.Load(); w != 0 {
		if d := time.Since(s.epoch) - time.Duration(w-1); d >= s.opts.StallTimeout {
			return fmt.Errorf("embedded: ping: a write and fdatasync of the log %s has not returned for %v", s.walPath, d.Round(time.Second))
		}
	}
	err := s.view(func(tx *bolt.Tx) error {
		var id storeID
		if _, err := checkMeta(tx, tx.Bucket(bucketMeta), &id); err != nil {
			return err
		}
		if id != s.id {
			return fmt.Errorf("%w: the store ID changed", docstore.ErrCorrupt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("embedded: ping: %w", err)
	}
	return nil
}

// Close implements docstore.Store: it waits for operations under way
// (including queued Appends, which are committed), folds the log into the
// database file, removes the log and closes the file. If something could
// not be folded, the log keeps it for the next Open and Close reports why.
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
	err := s.closeErr
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("embedded: close %s: %w", s.path, err)
	}
	return nil
}
